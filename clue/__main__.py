from clue.cli import main

main()
