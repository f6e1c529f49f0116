from tunekit.entry import main

main()
