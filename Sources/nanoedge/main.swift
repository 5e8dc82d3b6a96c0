print("nanoedge")
