import BLE
import Hardware
import Testing

private func complete(_ opcode: UInt16, status: UInt8 = 0) -> HCIEvent {
    .commandComplete(CommandComplete(numberOfAllowedCommands: 1, opcode: opcode, returnParameters: [status]))
}

private let enableOpcode: UInt16 = 0x200C
private let parametersOpcode: UInt16 = 0x200B
private let extendedParametersOpcode: UInt16 = 0x2041
private let extendedEnableOpcode: UInt16 = 0x2042

@Suite struct ScanSessionTests {
    @Test func startDisablesSetsParametersThenEnablesWithoutDuplicateFilter() {
        var session = ScanSession(adapter: "hci0", parameters: .standard)
        #expect(session.start(now: 0) == [.send(.setScanEnable(false, filterDuplicates: false))])
        #expect(session.handle(complete(enableOpcode, status: 0x0C), now: 1)  // nothing was on: ignored
            == [.send(.setScanParameters(.standard))])
        #expect(session.handle(complete(parametersOpcode), now: 2) == [.send(.setScanEnable(true, filterDuplicates: false))])
        #expect(session.handle(complete(enableOpcode), now: 3) == [.scanning])
        #expect(session.isScanning && session.deadline == nil)
        #expect(session.stop(now: 10) == [.send(.setScanEnable(false, filterDuplicates: false))])
        #expect(session.handle(complete(enableOpcode), now: 11) == [.stopped])
        #expect(session.isIdle)
    }

    @Test func commandBytesFollowTheSpecification() {
        let parameters = ScanParameters(active: false, intervalUnits: 0x0060, windowUnits: 0x0030)
        #expect(HCICommand.setScanParameters(parameters).packet == [0x01, 0x0B, 0x20, 0x07, 0x00, 0x60, 0x00, 0x30, 0x00, 0x00, 0x00])
        #expect(HCICommand.setScanEnable(true, filterDuplicates: false).packet == [0x01, 0x0C, 0x20, 0x02, 0x01, 0x00])
        #expect(ScanParameters(intervalMilliseconds: 100, windowMilliseconds: 50)
            == ScanParameters(active: false, intervalUnits: 160, windowUnits: 80))
        #expect(ScanParameters(intervalMilliseconds: 10, windowMilliseconds: 20) == nil)   // window > interval
        #expect(ScanParameters(intervalMilliseconds: 2, windowMilliseconds: 2) == nil)     // below 2.5 ms
        #expect(ScanParameters(intervalMilliseconds: 10_241, windowMilliseconds: 10) == nil)
    }

    @Test func legacyCommandsRefusedSwitchToTheExtendedOnes() {
        var session = ScanSession(adapter: "hci0")
        _ = session.start(now: 0)
        _ = session.handle(complete(enableOpcode, status: 0x0C), now: 1)
        // The controller is in extended mode: the same sequence with the extended commands.
        #expect(session.handle(complete(parametersOpcode, status: 0x0C), now: 2)
            == [.send(.setExtendedScanEnable(false, filterDuplicates: false))])
        #expect(session.usesExtendedCommands)
        #expect(session.handle(complete(extendedEnableOpcode), now: 3) == [.send(.setExtendedScanParameters(.standard))])
        #expect(session.handle(complete(extendedParametersOpcode), now: 4)
            == [.send(.setExtendedScanEnable(true, filterDuplicates: false))])
        #expect(session.handle(complete(extendedEnableOpcode), now: 5) == [.scanning])
        #expect(session.stop(now: 6) == [.send(.setExtendedScanEnable(false, filterDuplicates: false))])
        #expect(session.handle(complete(extendedEnableOpcode), now: 7) == [.stopped])
        // The next scan goes straight to the extended commands.
        #expect(session.start(now: 8) == [.send(.setExtendedScanEnable(false, filterDuplicates: false))])
    }

    @Test func extendedCommandBytesFollowTheSpecification() {
        #expect(HCICommand.setExtendedScanParameters(.standard).packet
            == [0x01, 0x41, 0x20, 0x08, 0x00, 0x00, 0x01, 0x00, 0x60, 0x00, 0x30, 0x00])
        #expect(HCICommand.setExtendedScanEnable(true, filterDuplicates: false).packet
            == [0x01, 0x42, 0x20, 0x06, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00])
    }

    @Test func commandDisallowedForBothSaysToResetTheController() {
        var session = ScanSession(adapter: "hci1")
        _ = session.start(now: 0)
        _ = session.handle(complete(enableOpcode), now: 1)
        _ = session.handle(complete(parametersOpcode, status: 0x0C), now: 2)
        _ = session.handle(complete(extendedEnableOpcode), now: 3)
        let actions = session.handle(complete(extendedParametersOpcode, status: 0x0C), now: 4)
        #expect(session.isIdle)
        guard case .failed(let error) = actions.first, actions.last == .stopped else {
            Issue.record("expected failed then stopped, got \(actions)")
            return
        }
        #expect(error.code == .commandDisallowed)
        #expect(error.description.contains("LE Set Extended Scan Parameters"))
        #expect(error.description.contains("hciconfig hci1 reset"))
        #expect(error.description.contains("extended"))
    }

    @Test func aRefusalByCommandStatusFailsTheStart() {
        var session = ScanSession(adapter: "hci0")
        _ = session.start(now: 0)
        _ = session.handle(complete(enableOpcode), now: 1)
        _ = session.handle(complete(parametersOpcode), now: 2)
        let refusal = HCIEvent.commandStatus(CommandStatus(status: 0x11, numberOfAllowedCommands: 1, opcode: enableOpcode))
        let actions = session.handle(refusal, now: 3)
        guard case .failed(let error) = actions.first else {
            Issue.record("expected a failure, got \(actions)")
            return
        }
        #expect(error.code == .controllerError)
        #expect(error.description.contains("0x11 (Unsupported Feature or Parameter Value)"))
    }

    @Test func completionsOfOtherCommandsAreIgnored() {
        var session = ScanSession(adapter: "hci0")
        _ = session.start(now: 0)
        #expect(session.handle(complete(0x0C03), now: 1) == [])   // HCI Reset by someone else
        #expect(session.handle(complete(parametersOpcode), now: 1) == [])  // not the outstanding one
        #expect(session.handle(.commandStatus(CommandStatus(status: 0, numberOfAllowedCommands: 1, opcode: enableOpcode)),
                               now: 1) == [])  // an accepted status is not a completion
        #expect(session.deadline == 2_000)
    }

    @Test func noAnswerTimesOut() {
        var session = ScanSession(adapter: "hci0", commandTimeoutMilliseconds: 500)
        _ = session.start(now: 100)
        #expect(session.deadline == 600)
        #expect(session.tick(now: 599) == [])
        let actions = session.tick(now: 600)
        guard case .failed(let error) = actions.first else {
            Issue.record("expected a timeout, got \(actions)")
            return
        }
        #expect(error.code == .timeout)
        #expect(error.description.contains("did not answer LE Set Scan Enable (off) within 500 ms"))
        #expect(session.isIdle && session.deadline == nil)
    }

    @Test func stopDuringStartWaitsForTheOutstandingCommandThenDisables() {
        var session = ScanSession(adapter: "hci0")
        _ = session.start(now: 0)
        _ = session.handle(complete(enableOpcode), now: 1)
        _ = session.handle(complete(parametersOpcode), now: 2)   // enable (on) outstanding
        #expect(session.stop(now: 3) == [])
        #expect(session.handle(complete(enableOpcode), now: 4) == [.send(.setScanEnable(false, filterDuplicates: false))])
        #expect(session.handle(complete(enableOpcode), now: 5) == [.stopped])
    }

    @Test func startDuringStopContinuesIntoANewScan() {
        var session = ScanSession(adapter: "hci0")
        _ = session.start(now: 0)
        _ = session.handle(complete(enableOpcode), now: 1)
        _ = session.handle(complete(parametersOpcode), now: 2)
        _ = session.handle(complete(enableOpcode), now: 3)
        _ = session.stop(now: 4)
        #expect(session.start(now: 5) == [])   // the outstanding disable leads into the start sequence
        #expect(session.handle(complete(enableOpcode), now: 6) == [.send(.setScanParameters(.standard))])
        // A stop whose disable is never answered ends quietly: nobody waits for it.
        var stopping = ScanSession(adapter: "hci0")
        _ = stopping.start(now: 0)
        _ = stopping.stop(now: 0)
        #expect(stopping.tick(now: 2_000) == [.stopped])
    }

    @Test func fixtureAnswersDriveTheSession() throws {
        let answers = try fixture("commands.hcitrace").entries.map { try HCIEvent(packet: $0.packet) }
        var session = ScanSession(adapter: "hci0")
        var actions = session.start(now: 0)
        for event in answers.prefix(3) { actions = session.handle(event, now: 1) }
        #expect(actions == [.scanning])

        var refused = ScanSession(adapter: "hci0")
        _ = refused.start(now: 0)
        _ = refused.handle(answers[0], now: 1)
        #expect(refused.handle(answers[3], now: 2) == [.send(.setExtendedScanEnable(false, filterDuplicates: false))])
        // The Command Status answer refuses LE Set Extended Scan Parameters as unknown: the start fails.
        _ = refused.handle(complete(extendedEnableOpcode), now: 3)
        let failure = refused.handle(answers[4], now: 4)
        #expect(failure.contains { if case .failed(let e) = $0 { e.code == .controllerError } else { false } })
    }
}
