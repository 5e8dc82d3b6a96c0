import ArgumentParser
import SimulatedBoard
import Site

struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Send one command to a simulated board's control socket and print the answer.",
        discussion: """
            The words are joined by spaces into one request (docs/simulator.md lists them), e.g. \
            `pir pulse 300`, `leds`, `beacon add AA:BB:CC:DD:EE:01 -55 alice-badge`. Everything after \
            the first word belongs to the request, so negative numbers need no `--`. An answer that \
            starts with "error:" goes to standard error and the exit status is 1.
            """)

    @Option(help: ArgumentHelp("The board's control socket.", valueName: "path"))
    var socket: String

    @Option(help: ArgumentHelp("How long to wait for the answer, in milliseconds.", valueName: "ms"))
    var timeoutMs: Int = 5000

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The request's words.", valueName: "word"))
    var words: [String] = []

    func validate() throws {
        guard !words.isEmpty else { throw ValidationError("give a command, e.g. `leds` or `help`") }
        guard timeoutMs > 0 else { throw ValidationError("--timeout-ms must be positive") }
    }

    func run() throws {
        let response = try reportingFailures {
            try SimulatorClient(socketPath: socket, timeoutMilliseconds: timeoutMs)
                .send(words.joined(separator: " "))
        }
        if response.hasPrefix("error:") {
            printError(TerminalText.safe(response, keepingNewlines: true))
            throw ExitCode.failure
        }
        if !response.isEmpty { print(TerminalText.safe(response, keepingNewlines: true)) }
    }
}
