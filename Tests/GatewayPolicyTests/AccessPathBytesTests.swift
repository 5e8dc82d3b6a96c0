import GatewayPolicy
import Testing

// A request path is bytes: a "/" merged into one Swift Character with a prepend (U+0600) or a
// combining (U+0301) scalar still separates, so `*` matches one byte segment only.
@Suite struct AccessPathBytesTests {
    private let policy = AccessPolicy(rules: [
        .init(role: "r", method: "GET", pattern: "content/*"),
        .init(role: "r", method: "GET", pattern: "dev/{self}/*"),
    ])

    @Test(arguments: ["content/a\u{0600}/secret", "content/a/\u{0301}secret", "dev/pi-1/x\u{0600}/cmd"])
    func starDoesNotSpanAHiddenSlash(path: String) {
        #expect(!policy.allows(roles: ["r"], device: "pi-1", method: "GET", path: path))
    }
}
