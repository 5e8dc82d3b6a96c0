import Agent
import JSON
import OCI
import Updater

#if canImport(Glibc)
import Glibc
#endif

let updateUsage = """
    usage: nanoedge-agent update [OPTIONS] COMMAND

    Commands (binary and container A/B slots under the state directory):
      install --target-info FILE --artifact FILE [--target-name NAME]
                        stage the verified artifact into the inactive slot, then activate it
      stage   --target-info FILE --artifact FILE [--target-name NAME]
      activate          binary: point `current` at the staged slot (then restart the service);
                        container: start it, check it for the health window, stop the old one
      boot              at each service start (ExecStartPre): count a trial start, roll back after
                        too many, finish an interrupted staging, make `current` match the state
      health --ok | --failing REASON
                        one health observation of the running trial (commits after the window)
      commit            commit the running trial now
      rollback [--reason TEXT]
      status            the state as JSON

    Whole-OS A/B on a Raspberry Pi (tryboot):
      os [--boot-dir DIR] [--device-tree DIR] init --committed N --trial M
      os … status | try --partition N [--no-reboot] | commit

    Options:
      --config FILE       take the board and state_dir from the agent's config
      --state-dir DIR     default /var/lib/nanoedge
      --board NAME        this device's board (boards/*.toml), matched against custom.boards
      --runtime PROGRAM   runc (default) or crun
      --runtime-root DIR  the runtime's state directory
      --bind HOST:CONTAINER[:ro]   a bind mount for containers (repeatable)
      --host-network      containers share the host's network
      --container-user UID:GID   who a container runs as when its image names no USER
                        (default 65534:65534, nobody; an image asking for root needs custom.allow_root)

    The target info is the signed TUF targets entry: {"length", "hashes": {"sha256"}, "custom":
    {"kind": "binary"|"oci", "version", "boards", "security_counter", "health", …}}; see docs/updater.md.
    Exit status: 0 success, 1 failure, 64 usage, 3 the update was rolled back or refused.

    """

func updateFail(_ message: String, code: Int32 = 1) -> Never {
    var text = "nanoedge-agent update: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(code)
}

func printJSON(_ value: JSON) {
    print(value.serialized())
}

func outcomeJSON(_ outcome: Outcome) -> JSON {
    ["result": .string(outcome.result.rawValue), "version": .string(outcome.version.description),
     "reason": .string(outcome.reason)]
}

func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    while true {
        let got = read(fd, &chunk, chunk.count)
        if got <= 0 { return got == 0 ? out : nil }
        out += chunk[0..<got]
    }
}

func runUpdateCommand(_ arguments: [String]) -> Never {
    var args = arguments[...]
    var stateDirectory: String?
    var board: String?
    var runtime = ContainerRuntime()
    var spec = RuntimeSpec()
    while let first = args.first, first.hasPrefix("--") {
        args = args.dropFirst()
        func value() -> String {
            guard let next = args.first else { updateFail("\(first) needs a value", code: 64) }
            args = args.dropFirst()
            return next
        }
        switch first {
        case "--config":
            do {
                let config = try AgentConfig.load(path: value())
                board = board ?? config.board.name
                stateDirectory = stateDirectory ?? config.stateDirectory
            } catch {
                updateFail("\(error)", code: 64)
            }
        case "--state-dir": stateDirectory = value()
        case "--board": board = value()
        case "--runtime": runtime.program = value()
        case "--runtime-root": runtime.root = value()
        case "--bind":
            let parts = value().split(separator: ":").map(String.init)
            guard parts.count == 2 || (parts.count == 3 && parts[2] == "ro"), parts[0].hasPrefix("/"), parts[1].hasPrefix("/")
            else { updateFail("--bind wants HOST:CONTAINER[:ro] with absolute paths", code: 64) }
            spec.bindMounts.append(.init(source: parts[0], destination: parts[1], readOnly: parts.count == 3))
        case "--host-network": spec.hostNetwork = true
        case "--container-user":
            let parts = Array(value().utf8).split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
                .map { UInt32(String(decoding: $0, as: UTF8.self)) }
            guard parts.count == 2, let uid = parts[0], let gid = parts[1] else {
                updateFail("--container-user wants UID:GID as numbers, e.g. 1000:1000", code: 64)
            }
            spec.defaultUser = ImageUser(uid: uid, gid: gid)
        case "--help", "-h":
            print(updateUsage, terminator: "")
            exit(0)
        default:
            updateFail("unknown option \(first)\n\(updateUsage)", code: 64)
        }
    }
    guard let verb = args.first else { updateFail("missing command\n\(updateUsage)", code: 64) }
    args = args.dropFirst()
    if verb == "os" { runOSCommand(args) }

    var configuration = Updater.Configuration(stateDirectory: stateDirectory ?? "/var/lib/nanoedge",
                                              board: board ?? "")
    configuration.runtime = runtime
    configuration.runtimeSpec = spec
    configuration.faults = FaultInjector.fromEnvironment()
    configuration.log = { line in
        var text = line + "\n"
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
    let updater: Updater
    do {
        updater = try Updater(configuration: configuration)
    } catch {
        updateFail("\(error)")
    }

    func option(_ name: String) -> String? {
        guard let index = args.firstIndex(of: name) else { return nil }
        guard index + 1 < args.endIndex else { updateFail("\(name) needs a value", code: 64) }
        return args[index + 1]
    }
    func stage() {
        guard board != nil else { updateFail("\(verb) needs --board NAME (or --config FILE)", code: 64) }
        guard let infoPath = option("--target-info"), let artifact = option("--artifact") else {
            updateFail("\(verb) needs --target-info FILE and --artifact FILE", code: 64)
        }
        guard let bytes = readWholeFile(infoPath) else { updateFail("cannot read \(infoPath)") }
        do {
            let json = try JSON.parse(bytes, limits: JSONLimits(maxBytes: 1 << 20))
            let target = try TargetDescription(json: json, name: option("--target-name"))
            try updater.stage(target: target, from: artifact)
        } catch let error as UpdateError {
            updateFail("\(error)", code: error.code == .refused ? 3 : 1)
        } catch {
            updateFail("\(infoPath): \(error)", code: 1)
        }
    }
    func activate() -> Never {
        do {
            switch try updater.activate() {
            case .restartRequired(let executable):
                printJSON(["activated": true, "executable": .string(executable), "restart": true])
                exit(0)
            case .finished(let outcome):
                printJSON(outcomeJSON(outcome))
                exit(outcome.result == .committed ? 0 : 3)
            }
        } catch {
            updateFail("\(error)")
        }
    }

    do {
        switch verb {
        case "install":
            stage()
            activate()
        case "stage":
            stage()
            printJSON(updater.status)
        case "activate":
            activate()
        case "boot":
            let report = try updater.boot()
            var object: [String: JSON] = [
                "running": report.running.map { .string($0.target.version.description) } ?? .null,
                "slot": report.running.map { .string($0.slot.rawValue) } ?? .null,
            ]
            if let attempt = report.trialAttempt { object["trial_attempt"] = .int(Int64(attempt)) }
            if let outcome = report.outcome { object["outcome"] = outcomeJSON(outcome) }
            if let executable = updater.currentExecutable { object["executable"] = .string(executable) }
            printJSON(.object(object))
        case "health":
            let ok = args.contains("--ok")
            guard ok || option("--failing") != nil else { updateFail("health needs --ok or --failing REASON", code: 64) }
            let outcome = try updater.healthReport(ok: ok, reason: option("--failing") ?? "")
            printJSON(outcome.map(outcomeJSON) ?? updater.status)
            if let outcome, outcome.result != .committed { exit(3) }
        case "commit":
            printJSON(outcomeJSON(try updater.commit()))
        case "rollback":
            printJSON(outcomeJSON(try updater.rollback(reason: option("--reason") ?? "rolled back by the operator")))
        case "status":
            printJSON(updater.status)
        default:
            updateFail("unknown command \(verb)\n\(updateUsage)", code: 64)
        }
    } catch {
        updateFail("\(error)")
    }
    exit(0)
}

func runOSCommand(_ arguments: ArraySlice<String>) -> Never {
    var args = arguments
    var bootDirectory = "/boot/firmware"
    var deviceTree: String?
    var rebootCommand: [String]?
    while let first = args.first, first.hasPrefix("--") {
        args = args.dropFirst()
        guard let value = args.first else { updateFail("\(first) needs a value", code: 64) }
        args = args.dropFirst()
        switch first {
        case "--boot-dir": bootDirectory = value
        case "--device-tree": deviceTree = value
        case "--reboot-command": rebootCommand = value.split(separator: " ").map(String.init)
        default: updateFail("unknown os option \(first)", code: 64)
        }
    }
    var configuration = Tryboot.Configuration(bootDirectory: bootDirectory)
    if let deviceTree { configuration.deviceTreeDirectory = deviceTree }
    if let rebootCommand { configuration.rebootCommand = rebootCommand }
    configuration.faults = FaultInjector.fromEnvironment()
    let tryboot = Tryboot(configuration: configuration)
    func number(_ name: String) -> Int {
        guard let index = args.firstIndex(of: name), index + 1 < args.endIndex, let value = Int(args[index + 1]) else {
            updateFail("needs \(name) N", code: 64)
        }
        return value
    }
    func show(_ autoboot: Tryboot.Autoboot) {
        let boot = tryboot.bootState()
        printJSON(["committed": .int(Int64(autoboot.committed)), "trial": .int(Int64(autoboot.trial)),
                   "generation": .int(Int64(autoboot.generation)),
                   "booted_partition": boot.partition.map { .int(Int64($0)) } ?? .null, "tryboot": .bool(boot.tryboot)])
    }
    do {
        switch args.first {
        case "init"?: show(try tryboot.initialize(committed: number("--committed"), trial: number("--trial")))
        case "status"?: show(try tryboot.read())
        case "try"?:
            show(try tryboot.prepareTrial(partition: number("--partition")))
            if !args.contains("--no-reboot") { try tryboot.startTrial() }
        case "commit"?: show(try tryboot.commit())
        default: updateFail("os needs init, status, try or commit", code: 64)
        }
    } catch {
        updateFail("\(error)")
    }
    exit(0)
}

/// Replaces this process (same pid, so systemd's watchdog and notifications follow) with
/// `<state>/current/nanoedge-agent` when the updater installed one and it is not this binary. The
/// unit keeps starting /usr/bin/nanoedge-agent, which always exists; the environment variable
/// stops a second hand-over. If the exec fails, this binary runs instead and says so.
func handOverToSlotBinary(stateDirectory: String) {
    let path = stateDirectory + "/current/nanoedge-agent"
    guard getenv("NANOEDGE_SLOT_EXEC") == nil, access(path, X_OK) == 0 else { return }
    var slot = stat()
    var me = stat()
    guard stat(path, &slot) == 0, stat("/proc/self/exe", &me) == 0 else { return }
    if slot.st_dev == me.st_dev && slot.st_ino == me.st_ino { return }
    setenv("NANOEDGE_SLOT_EXEC", path, 1)
    let argv = CommandLine.arguments.map { strdup($0) } + [nil]
    execv(path, argv)
    let reason = String(cString: strerror(errno))
    var text = "nanoedge-agent: cannot run the slot's binary \(path) (\(reason)); running \(agentVersion) instead\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    unsetenv("NANOEDGE_SLOT_EXEC")
}
