import CCoAP

/// How the process resolves host names (the gateway's, and the update server's through libcurl).
public enum NameLookup {
    /// Resolve through /etc/hosts and DNS only, with glibc's own code. The static agent calls this
    /// first: any other NSS module would be loaded with the system's libc.so.6 beside the linked-in one.
    public static func useBuiltInLookupsOnly() {
        _ = nanoedge_hosts_lookup_builtin_only()
    }
}
