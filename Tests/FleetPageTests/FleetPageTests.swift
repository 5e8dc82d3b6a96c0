import FleetPage
import Testing

@Suite struct FleetPageTests {
    let now: Int64 = 1_795_300_000_000

    @Test func devicesRolloutsAndVisitsAreRendered() {
        var page = FleetPage(title: "fleet", devices: [
            .init(id: "pi-1", board: "rpi4b", version: "1.2.0", slot: "b", health: "healthy", lastSeen: now - 5_000),
            .init(id: "pi-2", board: "rpi5", version: "1.1.0", slot: "a", health: "rolled back", lastSeen: now - 600_000,
                  lastError: "health check failed"),
        ], rollouts: [
            .init(id: "d1", target: "agent-1.2.0", group: "all", state: "running", halted: false, currentWave: 1,
                  waves: [.init(devices: 2, succeeded: 2, failed: 0), .init(devices: 8, succeeded: 3, failed: 1)],
                  failureThreshold: "20%"),
            .init(id: "d2", target: "agent-1.3.0", group: "all", state: "halted", halted: true, currentWave: 0,
                  waves: [.init(devices: 2, succeeded: 0, failed: 2)], failureThreshold: "1"),
        ], visits: nil)
        page.offlineAfterMs = 30_000
        let html = page.render(now: now)
        #expect(html.contains("1 of 2 online"))
        #expect(html.contains("<tr data-device=\"pi-2\" class=\"offline\">"))
        #expect(html.contains("title=\"health check failed\">rolled back</span>"))
        #expect(html.contains("3/8 <b class=\"bad\">1 failed</b>"))
        #expect(html.contains("<span class=\"badge bad\">halted</span>"))
        #expect(html.contains("10 min ago"))
        #expect(!html.contains("id=\"visits\""), "no visits section on the update server's page")
    }

    @Test func textIsEscaped() {
        let page = FleetPage(title: "<site>", devices: [.init(id: "a\"><script>x</script>", board: "b", version: "v")],
                             visits: [.init(id: 1, statuses: ["NOT <X>"], person: "O'Brien & co", room: nil,
                                            openedAt: now, closed: false)])
        let html = page.render(now: now)
        #expect(!html.contains("<script>x</script>"))
        #expect(html.contains("a&quot;&gt;&lt;script&gt;x&lt;/script&gt;"))
        #expect(html.contains("O&#39;Brien &amp; co"))
        #expect(html.contains("<title>&lt;site&gt;</title>"))
        #expect(html.contains("1 in progress"))
    }
}
