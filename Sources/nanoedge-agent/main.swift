print("nanoedge-agent")
