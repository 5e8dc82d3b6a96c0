import JSON

#if canImport(Glibc)
import Glibc
#endif

/// Builds an OCI runtime bundle's config.json (runtime-spec 1.0) from an image config: the process
/// (entrypoint + cmd, env, working directory, user) plus a conservative default sandbox: its own
/// pid, network, ipc, uts and mount namespaces, the capabilities of runc's default spec only, no new
/// privileges, a read-only rootfs with a tmpfs /tmp, and no devices. The process runs as an
/// unprivileged user: the image's USER, or nobody (65534:65534) when it names none; an image that
/// asks for root is refused unless `allowRoot` is set (the release's `custom.allow_root`).
public struct RuntimeSpec: Sendable {
    public struct BindMount: Sendable, Equatable {
        public var source: String
        public var destination: String
        public var readOnly: Bool
        public init(source: String, destination: String, readOnly: Bool = false) {
            self.source = source
            self.destination = destination
            self.readOnly = readOnly
        }
    }

    public var hostname = "nanoedge"
    public var readOnlyRootfs = true
    /// Host directories the device's configuration (never the image) mounts into the container.
    public var bindMounts: [BindMount] = []
    /// Share the host's network (e.g. for a service that answers on the Pi's address).
    public var hostNetwork = false
    /// Appended to (and overriding) the image's environment.
    public var extraEnv: [String] = []
    /// Overrides the image's Entrypoint + Cmd when not empty.
    public var argsOverride: [String] = []
    /// The user when the image's config names none: nobody. Set by the device's configuration,
    /// which is trusted, so it may be root.
    public var defaultUser = ImageUser(uid: 65534, gid: 65534, additionalGids: [])
    /// Lets an image that names root (uid 0) as its USER run as root.
    public var allowRoot = false

    public init() {}

    /// The config.json document for an unpacked image whose rootfs is `rootfsPath` (absolute or
    /// relative to the bundle). `rootfsDirectory` is read to resolve a user name.
    public func document(for config: OCIImageConfig, rootfs rootfsPath: String = "rootfs",
                         rootfsDirectory: String) throws(OCIError) -> JSON {
        let args = argsOverride.isEmpty ? config.entrypoint + config.cmd : argsOverride
        guard !args.isEmpty else {
            throw OCIError(.invalidLayout, "the image config has neither Entrypoint nor Cmd; nothing to run")
        }
        let user = config.user.isEmpty ? defaultUser : try ImageUser.resolve(config.user, rootfs: rootfsDirectory)
        guard config.user.isEmpty || user.uid != 0 || allowRoot else {
            throw OCIError(.unsupported, "the image runs as root (its config's User is \"\(config.user)\"); containers run "
                               + "as an unprivileged user: set USER in the image to a non-root user, or let this release "
                               + "run as root with custom.allow_root: true")
        }
        var env = config.env
        if !env.contains(where: { $0.hasPrefix("PATH=") }) {
            env.insert("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", at: 0)
        }
        for item in extraEnv {
            let key = item.split(separator: "=", maxSplits: 1).first.map(String.init) ?? item
            env.removeAll { $0.hasPrefix(key + "=") }
            env.append(item)
        }
        var document = RuntimeSpec.template
        var process = document["process"]!
        process = process.setting("user", .object(["uid": .int(Int64(user.uid)), "gid": .int(Int64(user.gid)),
                                                    "additionalGids": .array(user.additionalGids.map { .int(Int64($0)) })]))
        process = process.setting("args", .array(args.map { .string($0) }))
        process = process.setting("env", .array(env.map { .string($0) }))
        process = process.setting("cwd", .string(config.workingDir.isEmpty ? "/" : config.workingDir))
        document = document.setting("process", process)
        document = document.setting("root", .object(["path": .string(rootfsPath), "readonly": .bool(readOnlyRootfs)]))
        document = document.setting("hostname", .string(hostname))
        var mounts = document["mounts"]?.arrayValue ?? []
        for bind in bindMounts {
            let options = ["rbind", "nosuid", "nodev", bind.readOnly ? "ro" : "rw"]
            mounts.append(.object(["destination": .string(bind.destination), "type": .string("bind"),
                                   "source": .string(bind.source), "options": .array(options.map { .string($0) })]))
        }
        document = document.setting("mounts", .array(mounts))
        if !hostNetwork {
            var linux = document["linux"]!
            linux = linux.setting("namespaces", .array((linux["namespaces"]?.arrayValue ?? [])
                + [.object(["type": .string("network")])]))
            document = document.setting("linux", linux)
        }
        return document
    }

    /// The fixed part of every config.json, as runc's default spec has it (kept as text: far less
    /// code in the agent than building it value by value).
    static let template: JSON = try! JSON.parse("""
        {"ociVersion":"1.0.2",
         "process":{"terminal":false,"noNewPrivileges":true,
          "capabilities":{"bounding":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
           "effective":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
           "permitted":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],"ambient":[]},
          "rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}]},
         "mounts":[
          {"destination":"/proc","type":"proc","source":"proc"},
          {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
          {"destination":"/dev/pts","type":"devpts","source":"devpts",
           "options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
          {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
          {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
          {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
          {"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["nosuid","nodev","mode=1777"]}],
         "linux":{"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}],
          "resources":{"devices":[{"allow":false,"access":"rwm"}]},
          "maskedPaths":["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats",
           "/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/sys/firmware","/proc/scsi"],
          "readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}}
        """)
}

extension JSON {
    /// This object with `key` set to `value`.
    func setting(_ key: String, _ value: JSON) -> JSON {
        guard case .object(var members) = self else { return self }
        members[key] = value
        return .object(members)
    }
}

/// The user an image runs as: "", "uid", "uid:gid", "name" or "name:group", names looked up in the
/// rootfs' /etc/passwd and /etc/group (read without following links out of the rootfs).
public struct ImageUser: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var additionalGids: [UInt32]

    public init(uid: UInt32, gid: UInt32, additionalGids: [UInt32] = []) {
        self.uid = uid
        self.gid = gid
        self.additionalGids = additionalGids
    }

    public static func resolve(_ text: String, rootfs: String) throws(OCIError) -> ImageUser {
        if text.isEmpty { return ImageUser(uid: 0, gid: 0, additionalGids: []) }
        let parts = Array(text.utf8).split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        let passwd = parse(readInside(rootfs, "etc/passwd"))
        let groups = parse(readInside(rootfs, "etc/group"))
        var uid: UInt32
        var gid: UInt32 = 0
        if let number = UInt32(parts[0]) {
            uid = number
            if let line = passwd.first(where: { $0.count > 3 && $0[2].utf8.elementsEqual(parts[0].utf8) }), let g = UInt32(line[3]) { gid = g }
        } else if let line = passwd.first(where: { $0.count > 3 && $0[0].utf8.elementsEqual(parts[0].utf8) }),
                  let u = UInt32(line[2]), let g = UInt32(line[3]) {
            uid = u
            gid = g
        } else {
            throw OCIError(.invalidLayout, "the image runs as user \"\(parts[0])\", which its /etc/passwd does not list")
        }
        if parts.count == 2 {
            if let number = UInt32(parts[1]) {
                gid = number
            } else if let line = groups.first(where: { $0.count > 2 && $0[0].utf8.elementsEqual(parts[1].utf8) }), let g = UInt32(line[2]) {
                gid = g
            } else {
                throw OCIError(.invalidLayout, "the image runs as group \"\(parts[1])\", which its /etc/group does not list")
            }
        }
        _ = uid
        return ImageUser(uid: uid, gid: gid, additionalGids: [])
    }

    /// Lines and fields by bytes: CR LF is one `Character` that equals neither "\n" nor ":", so a
    /// CRLF file read per Character is one long line. A trailing CR is dropped.
    private static func parse(_ text: String?) -> [[String]] {
        guard let text else { return [] }
        return Array(text.utf8).split(separator: 0x0A).map { line in
            let trimmed = line.last == 0x0D ? line.dropLast() : line
            return trimmed.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// A small file of the rootfs, opened component by component without following links.
    private static func readInside(_ rootfs: String, _ relative: String) -> String? {
        var fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let parts = relative.split(separator: "/").map(String.init)
        for (index, part) in parts.enumerated() {
            let last = index == parts.count - 1
            let next = openat(fd, part, (last ? O_RDONLY : O_RDONLY | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC)
            close(fd)
            guard next >= 0 else { return nil }
            fd = next
        }
        let source = FileSource(fd: fd, ownsFD: true, path: relative, offset: 0, length: nil)
        guard let bytes = try? source.readAll(limit: 1 << 20, what: relative) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
