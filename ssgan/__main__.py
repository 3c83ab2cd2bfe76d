from ssgan.cli import main

main()
