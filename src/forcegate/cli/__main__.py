from forcegate.cli.main import main

main()
