/// A recorded GPIO edge trace in the format `gpiomon` (libgpiod 1.6) prints, so a trace taken on a
/// Pi with `gpiomon --num-events=N pinctrl-bcm2711 17 > walk.gpiomon` replays through the PIR filter:
///
///     # start 95.000000000
///     event:  RISING EDGE offset: 17 timestamp: [     100.000000000]
///     event: FALLING EDGE offset: 17 timestamp: [     102.512000000]
///
/// `# start` is when the sensor was powered (for the warm-up); other `#` lines are comments.
public struct EdgeTrace: Sendable, Equatable {
    public var startedAt: Int64?
    public var edges: [LineEdge]

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var problem: String
        public var description: String { "edge trace line \(line): \(problem)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> EdgeTrace {
        var trace = EdgeTrace(startedAt: nil, edges: [])
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let words = line.dropFirst().split(separator: " ")
                if words.first == "start", words.count == 2 {
                    guard let ms = milliseconds(words[1]) else {
                        throw ParseError(line: index + 1, problem: "bad start time \"\(words[1])\"")
                    }
                    trace.startedAt = ms
                }
                continue
            }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "[" || $0 == "]" })
            guard words.count == 7, words[0] == "event:", words[2] == "EDGE", words[3] == "offset:",
                  words[5] == "timestamp:", words[1] == "RISING" || words[1] == "FALLING"
            else {
                throw ParseError(line: index + 1, problem: "expected \"event: RISING|FALLING EDGE offset: N timestamp: [S.NS]\"")
            }
            guard let ms = milliseconds(words[6]) else {
                throw ParseError(line: index + 1, problem: "bad timestamp \"\(words[6])\"")
            }
            if let last = trace.edges.last, ms < last.timestamp {
                throw ParseError(line: index + 1, problem: "timestamp goes backwards")
            }
            trace.edges.append(LineEdge(rising: words[1] == "RISING", timestamp: ms))
        }
        return trace
    }

    /// "SECONDS.NANOSECONDS" → milliseconds.
    static func milliseconds(_ text: Substring) -> Int64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let seconds = Int64(parts[0]), seconds >= 0 else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            let padded = String(digits) + String(repeating: "0", count: 9 - digits.count)
            fraction = Int64(padded)! / 1_000_000
        }
        return seconds * 1000 + fraction
    }

    /// Replays the trace through a filter as the agent's loop would: ticking at each deadline that
    /// passes before the next edge, then until nothing is pending. Returns every output in order.
    public func replay(through configuration: PIRFilter.Configuration, until end: Int64? = nil) -> [PIRFilter.Output] {
        let start = startedAt ?? edges.first?.timestamp ?? 0
        var filter = PIRFilter(configuration: configuration, startedAt: start)
        var outputs: [PIRFilter.Output] = []
        func tickUntil(_ time: Int64) {
            while let deadline = filter.nextDeadline, deadline <= time {
                outputs += filter.tick(now: deadline)
            }
        }
        for edge in edges {
            tickUntil(edge.timestamp)
            outputs += filter.edge(edge)
        }
        tickUntil(end ?? (edges.last?.timestamp ?? start) + configuration.holdMs + configuration.stuckHighMs + 1)
        return outputs
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s = s.dropLast() }
        return s
    }
}
