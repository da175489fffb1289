from rlif.cli import main

main()
