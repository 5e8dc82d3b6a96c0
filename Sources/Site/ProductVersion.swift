/// The version of this build of nanoedge: the agent reports it at registration, both binaries print
/// it with `--version`, and `make deb` names the packages after it (read from this line).
public let productVersion = "0.1.0"
