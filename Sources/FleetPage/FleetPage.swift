/// The fleet page: server-rendered HTML, no build step, no CDN. The update server fills devices and
/// rollouts; a site gateway fills its devices and the live visits. A small inline script reloads the
/// page's sections every few seconds; without JavaScript the page is complete as served.
public struct FleetPage: Sendable {
    public struct Device: Sendable, Equatable {
        public var id: String
        public var board: String
        public var version: String
        public var slot: String?
        public var health: String?
        public var location: String?
        public var roles: [String]
        /// Epoch milliseconds.
        public var lastSeen: Int64?
        public var lastError: String?

        public init(id: String, board: String, version: String, slot: String? = nil, health: String? = nil,
                    location: String? = nil, roles: [String] = [], lastSeen: Int64? = nil, lastError: String? = nil) {
            self.id = id
            self.board = board
            self.version = version
            self.slot = slot
            self.health = health
            self.location = location
            self.roles = roles
            self.lastSeen = lastSeen
            self.lastError = lastError
        }
    }

    public struct Rollout: Sendable, Equatable {
        public struct Wave: Sendable, Equatable {
            public var devices: Int
            public var succeeded: Int
            public var failed: Int
            public init(devices: Int, succeeded: Int, failed: Int) {
                self.devices = devices
                self.succeeded = succeeded
                self.failed = failed
            }
        }

        public var id: String
        public var target: String
        public var group: String
        public var state: String
        public var halted: Bool
        public var currentWave: Int
        public var waves: [Wave]
        public var failureThreshold: String

        public init(id: String, target: String, group: String, state: String, halted: Bool, currentWave: Int,
                    waves: [Wave], failureThreshold: String) {
            self.id = id
            self.target = target
            self.group = group
            self.state = state
            self.halted = halted
            self.currentWave = currentWave
            self.waves = waves
            self.failureThreshold = failureThreshold
        }
    }

    public struct Visit: Sendable, Equatable {
        public var id: Int64
        public var statuses: [String]
        public var person: String?
        public var room: String?
        public var openedAt: Int64
        public var closed: Bool

        public init(id: Int64, statuses: [String], person: String?, room: String?, openedAt: Int64, closed: Bool) {
            self.id = id
            self.statuses = statuses
            self.person = person
            self.room = room
            self.openedAt = openedAt
            self.closed = closed
        }
    }

    public var title: String
    public var devices: [Device]
    /// Nil hides the section (a gateway has no rollouts).
    public var rollouts: [Rollout]?
    /// Nil hides the section (the update server has no visits).
    public var visits: [Visit]?
    /// A device not seen for this long shows as offline.
    public var offlineAfterMs: Int64 = 30_000

    public init(title: String, devices: [Device], rollouts: [Rollout]? = nil, visits: [Visit]? = nil) {
        self.title = title
        self.devices = devices
        self.rollouts = rollouts
        self.visits = visits
    }

    /// The whole document; `now` is epoch milliseconds, for "last seen" ages.
    public func render(now: Int64) -> String {
        var html = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>\(Self.style)</style>
            </head>
            <body>
            <header><h1>\(escape(title))</h1><p id="updated" data-now="\(now)">as of \(Self.clock(now)) UTC</p></header>
            <main id="live">

            """
        html += devicesSection(now: now)
        if let rollouts { html += rolloutsSection(rollouts) }
        if let visits { html += visitsSection(visits) }
        html += """
            </main>
            <script>\(Self.script)</script>
            </body>
            </html>

            """
        return html
    }

    private func devicesSection(now: Int64) -> String {
        let online = devices.filter { isOnline($0, now: now) }.count
        var html = "<section id=\"devices\"><h2>Devices <small>\(online) of \(devices.count) online</small></h2>\n"
        guard !devices.isEmpty else { return html + "<p class=\"empty\">No devices yet.</p></section>\n" }
        let showSlot = devices.contains { $0.slot != nil }
        let showHealth = devices.contains { $0.health != nil }
        html += "<table><thead><tr><th>Device</th><th>Board</th><th>Version</th>"
        if showSlot { html += "<th>Slot</th>" }
        if showHealth { html += "<th>Health</th>" }
        html += "<th>Where</th><th>Last seen</th></tr></thead><tbody>\n"
        for device in devices {
            let up = isOnline(device, now: now)
            html += "<tr data-device=\"\(escape(device.id))\" class=\"\(up ? "online" : "offline")\">"
            html += "<td>\(escape(device.id))</td><td>\(escape(device.board))</td><td>\(escape(device.version))</td>"
            if showSlot { html += "<td>\(escape(device.slot ?? "—"))</td>" }
            if showHealth {
                let health = device.health ?? "—"
                let title = device.lastError.map { " title=\"\(escape($0))\"" } ?? ""
                html += "<td><span class=\"badge \(healthClass(health))\"\(title)>\(escape(health))</span></td>"
            }
            let place = ([device.location].compactMap { $0 } + (device.roles.isEmpty ? [] : [device.roles.joined(separator: "+")]))
                .joined(separator: " · ")
            html += "<td>\(escape(place))</td><td>\(device.lastSeen.map { Self.age(now - $0) } ?? "never")</td></tr>\n"
        }
        return html + "</tbody></table></section>\n"
    }

    private func rolloutsSection(_ rollouts: [Rollout]) -> String {
        var html = "<section id=\"rollouts\"><h2>Rollouts</h2>\n"
        guard !rollouts.isEmpty else { return html + "<p class=\"empty\">No deployments yet.</p></section>\n" }
        html += "<table><thead><tr><th>Deployment</th><th>Target</th><th>Group</th><th>Waves</th><th>State</th></tr></thead><tbody>\n"
        for rollout in rollouts {
            html += "<tr data-rollout=\"\(escape(rollout.id))\"><td>\(escape(rollout.id))</td><td>\(escape(rollout.target))</td>"
            html += "<td>\(escape(rollout.group))</td><td class=\"waves\">"
            for (index, wave) in rollout.waves.enumerated() {
                let done = wave.devices == 0 ? 0 : (wave.succeeded * 100) / wave.devices
                let marker = index == rollout.currentWave && !rollout.halted ? " current" : ""
                html += "<div class=\"wave\(marker)\" title=\"wave \(index + 1): \(wave.succeeded) ok, \(wave.failed) failed of \(wave.devices)\">"
                html += "<span class=\"bar\"><span class=\"fill\" style=\"width:\(done)%\"></span></span>"
                html += " \(wave.succeeded)/\(wave.devices)\(wave.failed > 0 ? " <b class=\"bad\">\(wave.failed) failed</b>" : "")</div>"
            }
            let state = rollout.halted ? "<span class=\"badge bad\">halted</span>" : "<span class=\"badge \(healthClass(rollout.state))\">\(escape(rollout.state))</span>"
            html += "</td><td>\(state) <small>threshold \(escape(rollout.failureThreshold))</small></td></tr>\n"
        }
        return html + "</tbody></table></section>\n"
    }

    private func visitsSection(_ visits: [Visit]) -> String {
        var html = "<section id=\"visits\"><h2>Visits <small>\(visits.filter { !$0.closed }.count) in progress</small></h2>\n"
        guard !visits.isEmpty else { return html + "<p class=\"empty\">No visits yet.</p></section>\n" }
        html += "<table><thead><tr><th>Visit</th><th>Started</th><th>Who</th><th>Room</th><th>Status</th></tr></thead><tbody>\n"
        for visit in visits {
            html += "<tr data-visit=\"\(visit.id)\"><td>\(visit.id)</td><td>\(Self.clock(visit.openedAt))</td>"
            html += "<td>\(escape(visit.person ?? "—"))</td><td>\(escape(visit.room ?? "—"))</td><td>"
            html += visit.statuses.map { "<span class=\"badge \(healthClass($0))\">\(escape($0))</span>" }.joined(separator: " ")
            html += "</td></tr>\n"
        }
        return html + "</tbody></table></section>\n"
    }

    private func isOnline(_ device: Device, now: Int64) -> Bool {
        device.lastSeen.map { now - $0 <= offlineAfterMs } ?? false
    }

    private func healthClass(_ text: String) -> String {
        let upper = text.uppercased()
        if upper.hasPrefix("NOT") || ["FAILED", "ROLLED BACK", "ROLLED_BACK", "UNHEALTHY", "HALTED", "ERROR"].contains(upper) {
            return "bad"
        }
        if ["PRESENTED", "HEALTHY", "COMMITTED", "COMPLETED", "DONE", "OK"].contains(upper) { return "good" }
        return "neutral"
    }

    // MARK: Text

    static func clock(_ ms: Int64) -> String {
        let seconds = ms / 1000
        let day = seconds % 86_400
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(two(day / 3600)):\(two(day % 3600 / 60)):\(two(day % 60))"
    }

    static func age(_ ms: Int64) -> String {
        let s = max(0, ms) / 1000
        if s < 60 { return "\(s) s ago" }
        if s < 3600 { return "\(s / 60) min ago" }
        if s < 86_400 { return "\(s / 3600) h ago" }
        return "\(s / 86_400) d ago"
    }

    static let style = """
        body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
        header{background:#16324f;color:#fff;padding:12px 24px;display:flex;align-items:baseline;gap:24px}
        header h1{font-size:20px;margin:0}header p{margin:0;opacity:.8}
        main{padding:8px 24px}section{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:16px 0;padding:8px 16px}
        h2{font-size:17px}h2 small{font-weight:normal;color:#5b6b7c;margin-left:8px}
        table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-top:1px solid #eef1f4;vertical-align:top}
        th{color:#5b6b7c;font-weight:600;border-top:none}tr.offline td{color:#98a4b0}
        .badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;background:#e8edf2;margin:1px}
        .badge.good{background:#d7f2df;color:#14532d}.badge.bad,b.bad{background:#fbe0e0;color:#7f1d1d}
        .wave{white-space:nowrap}.bar{display:inline-block;width:80px;height:8px;background:#e8edf2;border-radius:4px;vertical-align:middle}
        .fill{display:block;height:8px;background:#2f855a;border-radius:4px}.wave.current .bar{outline:2px solid #16324f}
        .empty{color:#5b6b7c}
        """

    /// Refreshes the sections from the same URL every 3 s; a failed fetch leaves the page as it was.
    static let script = """
        (function(){var busy=false;setInterval(function(){if(busy||document.hidden)return;busy=true;
        fetch(location.href,{headers:{'Accept':'text/html'}}).then(function(r){return r.ok?r.text():null})
        .then(function(t){if(!t)return;var d=new DOMParser().parseFromString(t,'text/html');
        var m=d.getElementById('live'),u=d.getElementById('updated');
        if(m)document.getElementById('live').innerHTML=m.innerHTML;
        if(u){var e=document.getElementById('updated');e.textContent=u.textContent+' (live)';e.dataset.now=u.dataset.now}})
        .catch(function(){}).finally(function(){busy=false})},3000)})();
        """
}

/// HTML text and attribute escaping, per Unicode scalar: a `"` followed by a combining scalar is
/// one `Character` but still ends an attribute value for the browser.
public func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
