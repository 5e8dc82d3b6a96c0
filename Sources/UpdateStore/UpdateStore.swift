import JSON
import Releases
import Rollout

/// The update server's state: tokens, groups, devices, releases, deployments and TUF metadata.
///
/// One instance owns one database connection and is used by one thread at a time; the server keeps
/// a pool of them. The same code runs on SQLite and on PostgreSQL (`SQLBackend`). With PostgreSQL,
/// every change to assignments also sends `NOTIFY nanoedge_assignments` inside its transaction, so
/// other replicas learn of it exactly when it commits.
public final class UpdateStore {
    public static let notifyChannel = "nanoedge_assignments"
    public let backend: SQLBackend

    public init(backend: SQLBackend) throws(StoreError) {
        self.backend = backend
        try migrate()
    }

    /// Opens `postgres://…` URLs with PostgreSQL and anything else as an SQLite file path.
    public static func open(_ location: String) throws(StoreError) -> UpdateStore {
        if location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") {
            return try UpdateStore(backend: PostgresBackend(url: location))
        }
        return try UpdateStore(backend: SQLiteBackend(path: location))
    }

    private func migrate() throws(StoreError) {
        try backend.transaction { () throws(StoreError) in
            if backend.dialect == .postgres {
                // Replicas starting together must not race on CREATE TABLE.
                _ = try backend.rows("SELECT pg_advisory_xact_lock(7158001)", [])
            }
            try backend.execute(script: Schema.script(backend.dialect))
            let current = try backend.rows("SELECT max(version) FROM schema_version", []).first?.optionalInt(0) ?? 0
            if current > Int64(Schema.version) {
                throw StoreError(.database, "the database at \(backend.location) has schema \(current), newer than "
                    + "this server's \(Schema.version); run a newer nanoedge")
            }
            if current < Int64(Schema.version) {
                _ = try backend.rows("INSERT INTO schema_version (version) VALUES (?)", [.int(Int64(Schema.version))])
            }
        }
    }

    public func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try backend.transaction(body)
    }

    private func rows(_ sql: String, _ arguments: [SQLValue] = []) throws(StoreError) -> [SQLRow] {
        try backend.rows(sql, arguments)
    }

    private var forUpdate: String { backend.dialect == .postgres ? " FOR UPDATE" : "" }

    /// Tells other replicas, at commit, that assignments in `deployment` changed.
    private func notify(_ deployment: Int64) throws(StoreError) {
        try notify(payload: ChangeNotice.deployment(deployment).payload)
    }

    private func notify(payload: String) throws(StoreError) {
        guard backend.dialect == .postgres else { return }
        _ = try rows("SELECT pg_notify(?, ?)", [.text(Self.notifyChannel), .text(payload)])
    }

    // MARK: Admin tokens

    public func addToken(name: String, hash: String, at now: Int64) throws(StoreError) {
        do throws(StoreError) {
            _ = try rows("INSERT INTO tokens (name, hash, created_at) VALUES (?, ?, ?)", [.text(name), .text(hash), .int(now)])
        } catch where error.code == .conflict {
            throw .conflict("a token named \"\(name)\" exists already; revoke it first or pick another name")
        }
    }

    /// The name of the token with this hash, if any.
    public func tokenName(hash: String) throws(StoreError) -> String? {
        try rows("SELECT name FROM tokens WHERE hash = ?", [.text(hash)]).first?.text(0)
    }

    public func tokens() throws(StoreError) -> [(name: String, createdAt: Int64)] {
        try rows("SELECT name, created_at FROM tokens ORDER BY name").map { ($0.text(0), $0.int(1)) }
    }

    public func removeToken(name: String) throws(StoreError) {
        try transaction { () throws(StoreError) in
            guard try rows("SELECT name FROM tokens WHERE name = ?", [.text(name)]).first != nil else {
                throw .notFound("no token named \"\(name)\"")
            }
            _ = try rows("DELETE FROM tokens WHERE name = ?", [.text(name)])
        }
    }

    // MARK: Groups and devices

    public func addGroup(name: String, at now: Int64) throws(StoreError) {
        do throws(StoreError) {
            _ = try rows("INSERT INTO groups (name, created_at) VALUES (?, ?)", [.text(name), .int(now)])
        } catch where error.code == .conflict {
            throw .conflict("group \"\(name)\" exists already")
        }
    }

    public func groups() throws(StoreError) -> [GroupRecord] {
        try rows("""
            SELECT g.name, g.created_at, (SELECT count(*) FROM devices d WHERE d.group_name = g.name)
            FROM groups g ORDER BY g.name
            """).map { GroupRecord(name: $0.text(0), deviceCount: Int($0.int(2)), createdAt: $0.int(1)) }
    }

    public func group(_ name: String) throws(StoreError) -> GroupRecord? {
        try groups().first { $0.name == name }
    }

    /// Adds a device to a group. A group whose rollouts are under way takes it into them at the end
    /// of their last wave, so a late device still ends up with the group's release.
    @discardableResult
    public func addDevice(id: String, board: String, group: String, tokenHash: String, psk: String,
                          at now: Int64) throws(StoreError) -> [AssignmentChange] {
        try transaction { () throws(StoreError) -> [AssignmentChange] in
            guard try rows("SELECT name FROM groups WHERE name = ?\(forUpdate)", [.text(group)]).first != nil else {
                throw .notFound("no group \"\(group)\"; create it first (nanoedge devices group add \(group))")
            }
            do throws(StoreError) {
                _ = try rows("""
                    INSERT INTO devices (id, board, group_name, token_hash, psk, created_at) VALUES (?, ?, ?, ?, ?, ?)
                    """, [.text(id), .text(board), .text(group), .text(tokenHash), .text(psk), .int(now)])
            } catch where error.code == .conflict {
                throw .conflict("device \"\(id)\" exists already")
            }
            try notify(payload: ChangeNotice.device(id).payload)
            var changes: [AssignmentChange] = [AssignmentChange(deployment: 0, devices: [id])]
            for row in try rows("SELECT id FROM deployments WHERE group_name = ? AND status IN ('active', 'completed')",
                                [.text(group)]) {
                let deployment = row.int(0)
                let next = try rows("SELECT count(*) FROM deployment_devices WHERE deployment = ?", [.int(deployment)])
                    .first?.int(0) ?? 0
                _ = try rows("INSERT INTO deployment_devices (deployment, device, position, outcome) VALUES (?, ?, ?, 'pending')",
                             [.int(deployment), .text(id), .int(next)])
                try refreshReached(deployment)
                try notify(deployment)
                changes.append(AssignmentChange(deployment: deployment, devices: [id]))
            }
            return changes
        }
    }

    private static let deviceColumns =
        "id, board, group_name, created_at, last_seen, version, slot, health, target, last_error"

    private func deviceRecord(_ row: SQLRow) -> DeviceRecord {
        DeviceRecord(id: row.text(0), board: row.text(1), group: row.text(2), createdAt: row.int(3),
                     lastSeen: row.optionalInt(4), version: row.optionalText(5), slot: row.optionalText(6),
                     health: row.optionalText(7), target: row.optionalText(8), lastError: row.optionalText(9))
    }

    public func device(id: String) throws(StoreError) -> DeviceRecord? {
        try rows("SELECT \(Self.deviceColumns) FROM devices WHERE id = ?", [.text(id)]).first.map(deviceRecord)
    }

    public func devices(group: String? = nil) throws(StoreError) -> [DeviceRecord] {
        if let group {
            return try rows("SELECT \(Self.deviceColumns) FROM devices WHERE group_name = ? ORDER BY id", [.text(group)])
                .map(deviceRecord)
        }
        return try rows("SELECT \(Self.deviceColumns) FROM devices ORDER BY id").map(deviceRecord)
    }

    /// The device whose HTTP token has this hash.
    public func deviceID(tokenHash: String) throws(StoreError) -> String? {
        try rows("SELECT id FROM devices WHERE token_hash = ?", [.text(tokenHash)]).first?.text(0)
    }

    /// The DTLS pre-shared key of a device (hex), for the handshake.
    public func devicePSK(id: String) throws(StoreError) -> String? {
        try rows("SELECT psk FROM devices WHERE id = ?", [.text(id)]).first?.text(0)
    }

    public func recordCheckIn(device: String, _ checkIn: CheckIn, at now: Int64) throws(StoreError) {
        if backend.dialect == .postgres {
            // As on SQLite: a check-in that a crash loses is repeated by the device; it need not
            // wait for the WAL flush. Only this transaction is affected.
            _ = try rows("SET LOCAL synchronous_commit TO OFF")
        }
        _ = try rows("""
            UPDATE devices SET last_seen = ?, version = ?, slot = ?, health = ?, target = ?, last_error = ? WHERE id = ?
            """, [.int(now), .text(checkIn.version.description), .text(checkIn.slot.rawValue),
                  .text(checkIn.health.rawValue), SQLValue(checkIn.target), SQLValue(checkIn.lastError), .text(device)])
    }

    // MARK: Releases

    public func addRelease(_ release: ReleaseRecord) throws(StoreError) {
        do throws(StoreError) {
            _ = try rows("""
                INSERT INTO releases (target, name, version, kind, custom, sha256, length, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(release.target), .text(release.custom.name), .text(release.custom.version.description),
                      .text(release.custom.kind.rawValue), .text(release.custom.json.serialized()),
                      .text(release.sha256), .int(release.length), .int(release.createdAt)])
        } catch where error.code == .conflict {
            throw .conflict("a release with target name \"\(release.target)\" exists already; "
                + "pick another version, or another --target-name for a second artifact of this version")
        }
    }

    private func releaseRecord(_ row: SQLRow) throws(StoreError) -> ReleaseRecord {
        let custom: TargetCustom
        do {
            custom = try TargetCustom(json: try JSON.parse(row.text(1)))
        } catch {
            throw StoreError(.database, "release \(row.text(0)) has a damaged custom field: \(error)")
        }
        return ReleaseRecord(target: row.text(0), custom: custom, sha256: row.text(2), length: row.int(3),
                             createdAt: row.int(4))
    }

    public func release(target: String) throws(StoreError) -> ReleaseRecord? {
        guard let row = try rows("SELECT target, custom, sha256, length, created_at FROM releases WHERE target = ?",
                                 [.text(target)]).first else { return nil }
        return try releaseRecord(row)
    }

    public func releases() throws(StoreError) -> [ReleaseRecord] {
        var out: [ReleaseRecord] = []
        for row in try rows("SELECT target, custom, sha256, length, created_at FROM releases ORDER BY created_at, target") {
            out.append(try releaseRecord(row))
        }
        return out
    }

    /// Releases named `name` that some deployment uses (halted ones included: their devices run them).
    public func deployedReleases(name: String) throws(StoreError) -> [ReleaseRecord] {
        var out: [ReleaseRecord] = []
        for row in try rows("""
            SELECT r.target, r.custom, r.sha256, r.length, r.created_at FROM releases r
            WHERE r.name = ? AND EXISTS (SELECT 1 FROM deployments d WHERE d.target = r.target)
            """, [.text(name)]) {
            out.append(try releaseRecord(row))
        }
        return out
    }

    // MARK: Deployments

    private static let deploymentColumns = """
        id, target, group_name, plan, device_count, status, wave, wave_started_at, acknowledged_failures,
        halt_reason, reached_count, created_at, updated_at
        """

    private func deploymentRecord(_ row: SQLRow) throws(StoreError) -> DeploymentRecord {
        let plan: RolloutPlan
        do {
            plan = try RolloutPlan(json: try JSON.parse(row.text(3)))
        } catch {
            throw StoreError(.database, "deployment \(row.int(0)) has a damaged plan: \(error)")
        }
        let status = RolloutStatus(rawValue: row.text(5)) ?? .halted
        let state = RolloutState(status: status, wave: Int(row.int(6)), waveStartedAt: row.int(7),
                                 acknowledgedFailures: Int(row.int(8)), haltReason: row.optionalText(9))
        return DeploymentRecord(id: row.int(0), target: row.text(1), group: row.text(2), plan: plan,
                                deviceCount: Int(row.int(4)), state: state, reachedCount: Int(row.int(10)),
                                createdAt: row.int(11), updatedAt: row.int(12))
    }

    public func deployment(id: Int64) throws(StoreError) -> DeploymentRecord? {
        guard let row = try rows("SELECT \(Self.deploymentColumns) FROM deployments WHERE id = ?", [.int(id)]).first else {
            return nil
        }
        return try deploymentRecord(row)
    }

    public func deployments() throws(StoreError) -> [DeploymentRecord] {
        var out: [DeploymentRecord] = []
        for row in try rows("SELECT \(Self.deploymentColumns) FROM deployments ORDER BY id") {
            out.append(try deploymentRecord(row))
        }
        return out
    }

    private func lockedDeployment(_ id: Int64) throws(StoreError) -> DeploymentRecord {
        guard let row = try rows("SELECT \(Self.deploymentColumns) FROM deployments WHERE id = ?\(forUpdate)",
                                 [.int(id)]).first else {
            throw .notFound("no deployment \(id)")
        }
        return try deploymentRecord(row)
    }

    public func deploymentDevices(_ id: Int64) throws(StoreError) -> [DeploymentDevice] {
        try rows("""
            SELECT device, position, outcome, error, reported_at FROM deployment_devices WHERE deployment = ? ORDER BY position
            """, [.int(id)]).map { row in
            DeploymentDevice(device: row.text(0), position: Int(row.int(1)),
                             outcome: DeviceOutcome(rawValue: row.text(2)) ?? .pending,
                             error: row.optionalText(3), reportedAt: row.optionalInt(4))
        }
    }

    public func progress(_ deployment: DeploymentRecord) throws(StoreError) -> DeploymentProgress {
        let devices = try deploymentDevices(deployment.id)
        let reached = devices.filter { $0.position < deployment.reachedCount }
        return DeploymentProgress(reached: reached.count,
                                  succeeded: reached.filter { $0.outcome == .success }.count,
                                  failed: reached.filter { $0.outcome == .failure }.count,
                                  pending: reached.filter { $0.outcome == .pending }.count)
    }

    /// Creates a deployment of `target` to every device of `group` and reaches its first wave.
    /// Older rollouts to the same group that are still active are superseded.
    public func createDeployment(target: String, group: String, plan: RolloutPlan,
                                 at now: Int64) throws(StoreError) -> (DeploymentRecord, [AssignmentChange]) {
        try transaction { () throws(StoreError) -> (DeploymentRecord, [AssignmentChange]) in
            // The group row is the lock that orders concurrent deployments to one group.
            guard try rows("SELECT name FROM groups WHERE name = ?\(forUpdate)", [.text(group)]).first != nil else {
                throw .notFound("no group \"\(group)\"")
            }
            guard try release(target: target) != nil else {
                throw .notFound("no release with target name \"\(target)\" (nanoedge release list shows them)")
            }
            let members = try rows("SELECT id FROM devices WHERE group_name = ? ORDER BY id", [.text(group)]).map { $0.text(0) }
            let machine = RolloutMachine(plan: plan, deviceCount: members.count)
            let (state, actions) = machine.start(now: now)
            var changes: [AssignmentChange] = []
            for old in try rows("SELECT id FROM deployments WHERE group_name = ? AND status = 'active'", [.text(group)]) {
                _ = try rows("UPDATE deployments SET status = 'superseded', updated_at = ? WHERE id = ?",
                             [.int(now), .int(old.int(0))])
            }
            guard let row = try rows("""
                INSERT INTO deployments (target, group_name, plan, device_count, status, wave, wave_started_at,
                    acknowledged_failures, halt_reason, reached_count, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, ?, ?, ?) RETURNING id
                """, [.text(target), .text(group), .text(plan.json.serialized()), .int(Int64(members.count)),
                      .text(state.status.rawValue), .int(Int64(state.wave)), .int(state.waveStartedAt),
                      .int(Int64(machine.reachedCount(state))), .int(now), .int(now)]).first else {
                throw StoreError(.database, "the database returned no id for the new deployment")
            }
            let id = row.int(0)
            for (position, device) in members.enumerated() {
                _ = try rows("INSERT INTO deployment_devices (deployment, device, position, outcome) VALUES (?, ?, ?, 'pending')",
                             [.int(id), .text(device), .int(Int64(position))])
            }
            for action in actions {
                if case .reach(let range) = action {
                    changes.append(AssignmentChange(deployment: id, devices: Array(members[range])))
                }
            }
            try notify(id)
            guard let record = try deployment(id: id) else { throw .notFound("deployment \(id) vanished") }
            return (record, changes)
        }
    }

    /// Records a device's report and advances the rollout. A repeated report is accepted and
    /// changes nothing.
    public func report(device: String, _ report: UpdateReport, at now: Int64) throws(StoreError) -> [AssignmentChange] {
        try transaction { () throws(StoreError) -> [AssignmentChange] in
            let deployment = try lockedDeployment(report.deployment)
            guard deployment.target == report.target else {
                throw .invalid("deployment \(report.deployment) installs \(deployment.target), not \(report.target)")
            }
            guard let entry = try rows("SELECT position, outcome FROM deployment_devices WHERE deployment = ? AND device = ?",
                                       [.int(deployment.id), .text(device)]).first else {
                throw .invalid("device \(device) is not part of deployment \(deployment.id)")
            }
            guard entry.int(0) < Int64(deployment.reachedCount) else {
                throw .invalid("deployment \(deployment.id) has not reached device \(device) yet")
            }
            let outcome: DeviceOutcome = report.outcome == .success ? .success : .failure
            if entry.text(1) == outcome.rawValue { return [] }
            _ = try rows("UPDATE deployment_devices SET outcome = ?, error = ?, reported_at = ? WHERE deployment = ? AND device = ?",
                         [.text(outcome.rawValue), SQLValue(report.error), .int(now), .int(deployment.id), .text(device)])
            var changes = try advance(deployment, now: now)
            if outcome == .failure {
                // The device goes back to what it ran before: its own assignment changed.
                changes.append(AssignmentChange(deployment: deployment.id, devices: [device]))
                try notify(deployment.id)
            }
            return changes
        }
    }

    /// Runs the rollout machine over the current outcomes and stores what it decided.
    private func advance(_ deployment: DeploymentRecord, now: Int64) throws(StoreError) -> [AssignmentChange] {
        let devices = try deploymentDevices(deployment.id)
        let outcomes = devices.map(\.outcome)
        let (state, actions) = deployment.machine.step(deployment.state, outcomes: outcomes, now: now)
        return try store(deployment, state: state, actions: actions, devices: devices, now: now)
    }

    private func store(_ deployment: DeploymentRecord, state: RolloutState, actions: [RolloutAction],
                       devices: [DeploymentDevice], now: Int64) throws(StoreError) -> [AssignmentChange] {
        guard state != deployment.state else { return [] }
        let reached = max(deployment.machine.reachedCount(state), min(deployment.reachedCount, devices.count))
        _ = try rows("""
            UPDATE deployments SET status = ?, wave = ?, wave_started_at = ?, acknowledged_failures = ?, halt_reason = ?,
                reached_count = ?, updated_at = ? WHERE id = ?
            """, [.text(state.status.rawValue), .int(Int64(state.wave)), .int(state.waveStartedAt),
                  .int(Int64(state.acknowledgedFailures)), SQLValue(state.haltReason), .int(Int64(reached)),
                  .int(now), .int(deployment.id)])
        var changes: [AssignmentChange] = []
        for action in actions {
            switch action {
            case .reach(let range):
                let names = devices.filter { range.contains($0.position) }.map(\.device)
                changes.append(AssignmentChange(deployment: deployment.id, devices: names))
            case .halt, .complete:
                break
            }
        }
        // Late members sit past the plan's last boundary; a completed rollout reaches them too.
        if state.status == .completed, reached < devices.count {
            _ = try rows("UPDATE deployments SET reached_count = ? WHERE id = ?", [.int(Int64(devices.count)), .int(deployment.id)])
            changes.append(AssignmentChange(deployment: deployment.id, devices: devices.filter { $0.position >= reached }.map(\.device)))
        }
        try notify(deployment.id)
        return changes
    }

    /// Keeps `reached_count` in step with late members of a completed rollout.
    private func refreshReached(_ id: Int64) throws(StoreError) {
        _ = try rows("""
            UPDATE deployments SET reached_count = (SELECT count(*) FROM deployment_devices WHERE deployment = ?)
            WHERE id = ? AND status = 'completed'
            """, [.int(id), .int(id)])
    }

    public func halt(deployment id: Int64, reason: String, at now: Int64) throws(StoreError) -> DeploymentRecord {
        try transaction { () throws(StoreError) -> DeploymentRecord in
            let deployment = try lockedDeployment(id)
            guard deployment.state.status == .active else {
                throw .conflict("deployment \(id) is \(deployment.state.status.rawValue); only an active rollout can be halted")
            }
            let (state, actions) = deployment.machine.halt(deployment.state, reason: reason)
            _ = try store(deployment, state: state, actions: actions, devices: try deploymentDevices(id), now: now)
            return try lockedDeployment(id)
        }
    }

    public func resume(deployment id: Int64, at now: Int64) throws(StoreError) -> (DeploymentRecord, [AssignmentChange]) {
        try transaction { () throws(StoreError) -> (DeploymentRecord, [AssignmentChange]) in
            let deployment = try lockedDeployment(id)
            guard deployment.state.status == .halted else {
                throw .conflict("deployment \(id) is \(deployment.state.status.rawValue); only a halted rollout can be resumed")
            }
            if let newer = try rows("SELECT id FROM deployments WHERE group_name = ? AND id > ? AND status IN ('active', 'completed')",
                                    [.text(deployment.group), .int(id)]).first {
                throw .conflict("deployment \(newer.int(0)) to group \(deployment.group) is newer; resuming \(id) would fight it")
            }
            let devices = try deploymentDevices(id)
            let (state, actions) = deployment.machine.resume(deployment.state, outcomes: devices.map(\.outcome), now: now)
            let changes = try store(deployment, state: state, actions: actions, devices: devices, now: now)
            return (try lockedDeployment(id), changes)
        }
    }

    /// Advances rollouts whose soak time ran out. Returns the devices newly reached.
    public func tick(at now: Int64) throws(StoreError) -> [AssignmentChange] {
        var changes: [AssignmentChange] = []
        for row in try rows("SELECT id FROM deployments WHERE status = 'active'") {
            let id = row.int(0)
            guard let peek = try deployment(id: id), let deadline = peek.machine.nextDeadline(peek.state),
                  deadline <= now else { continue }
            changes += try transaction { () throws(StoreError) -> [AssignmentChange] in
                try advance(try lockedDeployment(id), now: now)
            }
        }
        return changes
    }

    /// The earliest soak deadline among active rollouts.
    public func nextDeadline() throws(StoreError) -> Int64? {
        var earliest: Int64?
        for row in try rows("SELECT \(Self.deploymentColumns) FROM deployments WHERE status = 'active'") {
            let deployment = try deploymentRecord(row)
            if let deadline = deployment.machine.nextDeadline(deployment.state) {
                earliest = min(earliest ?? deadline, deadline)
            }
        }
        return earliest
    }

    // MARK: Assignments

    /// What `device` should run now.
    public func assignment(device: String) throws(StoreError) -> (Assignment, ReleaseRecord)? {
        let candidates = try rows("""
            SELECT d.id, d.target, d.status, dd.position, d.reached_count, dd.outcome
            FROM deployment_devices dd JOIN deployments d ON d.id = dd.deployment
            WHERE dd.device = ? ORDER BY d.id DESC
            """, [.text(device)]).map { row in
            DeploymentCandidate(deployment: row.int(0), target: row.text(1),
                                status: RolloutStatus(rawValue: row.text(2)) ?? .halted, position: Int(row.int(3)),
                                reachedCount: Int(row.int(4)), outcome: DeviceOutcome(rawValue: row.text(5)) ?? .pending)
        }
        guard let chosen = AssignmentResolver.resolve(candidates), let release = try release(target: chosen.target) else {
            return nil
        }
        return (Assignment(deployment: chosen.deployment, target: chosen.target, custom: release.custom), release)
    }

    /// Devices in deployment `id`, for replicas that learn of a change by its id.
    public func deviceIDs(deployment id: Int64) throws(StoreError) -> [String] {
        try rows("SELECT device FROM deployment_devices WHERE deployment = ?", [.int(id)]).map { $0.text(0) }
    }

    /// Takes the repository lock for the rest of the transaction: one signer at a time, across replicas.
    public func lockRepository() throws(StoreError) {
        if backend.dialect == .postgres {
            _ = try rows("SELECT pg_advisory_xact_lock(7158002)")
        }
    }
}
