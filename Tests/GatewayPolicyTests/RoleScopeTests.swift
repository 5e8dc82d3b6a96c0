import GatewayPolicy
import Testing

@Suite struct RoleScopeTests {
    @Test(arguments: [
        (["presence"], "motion", true),
        (["guidance"], "motion", false),
        (["display"], "motion", false),
        (["scanner"], "scan", true),
        (["guidance"], "scan", false),
        (["presence", "display"], "scan", false),
        (["guidance"], "guidance", true),
        (["scanner"], "guidance", false),
        (["display"], "presented", true),
        (["presence", "scanner"], "presented", false),
        (["display"], "hidden", true),
        (["guidance"], "hidden", false),
        (["guidance"], "fault", true),
        (["display"], "config", true),
        (["admin"], "motion", false),
        ([], "fault", false),
        (["presence"], "teleport", false),
    ])
    func eventKindsFollowTheProvisionedRoles(roles: [String], kind: String, allowed: Bool) {
        let refusal = RoleScope.eventRefusal(device: "pi-1", kind: kind, provisioned: roles)
        #expect((refusal == nil) == allowed, "\(roles) reporting \(kind): \(refusal ?? "allowed")")
    }

    @Test func aRefusedEventSaysWhoMayReportIt() {
        let refusal = RoleScope.eventRefusal(device: "corridor-1", kind: "scan", provisioned: ["guidance"])
        #expect(refusal == "corridor-1 (provisioned roles: guidance) may not report scan events; "
            + "they come from a device with the role scanner")
    }

    @Test(arguments: [
        // Claiming nothing, or what was provisioned, in any order: accepted.
        ([String](), "", true),
        (["guidance"], "corridor", true),
        (["guidance"], "", true),
        ([String](), "corridor", true),
        // Anything else is refused.
        (["presence", "scanner"], "corridor", false),
        (["guidance", "scanner"], "corridor", false),
        (["guidance"], "entrance", false),
        (["presence", "scanner"], "entrance", false),
    ])
    func registrationMustAgreeWithProvisioning(roles: [String], location: String, accepted: Bool) {
        let refusal = RoleScope.registrationRefusal(device: "corridor-1", roles: roles, location: location,
                                                    provisionedRoles: ["guidance"], provisionedLocation: "corridor")
        #expect((refusal == nil) == accepted, "\(roles) at \(location): \(refusal ?? "accepted")")
    }

    @Test func rolesAreComparedAsASetOfSiteRoles() {
        #expect(RoleScope.registrationRefusal(device: "room-1", roles: ["display", "presence", "scanner"],
                                              location: "room-1", provisionedRoles: ["scanner", "display", "presence"],
                                              provisionedLocation: "room-1") == nil)
        // `admin` is provisioned, never claimed, so it does not count against the registration.
        #expect(RoleScope.registrationRefusal(device: "ops", roles: ["presence"], location: "hall",
                                              provisionedRoles: ["presence", "admin"], provisionedLocation: "hall") == nil)
    }

    @Test func aDeviceMayRunFewerRolesThanItHoldsButNeverAnother() {
        // An entrance Pi whose BLE adapter is missing runs as presence alone while another device scans.
        #expect(RoleScope.registrationRefusal(device: "entrance-1", roles: ["presence"], location: "entrance",
                                              provisionedRoles: ["presence", "scanner"],
                                              provisionedLocation: "entrance") == nil)
        let refusal = RoleScope.registrationRefusal(device: "entrance-1", roles: ["presence", "display"],
                                                    location: "entrance", provisionedRoles: ["presence", "scanner"],
                                                    provisionedLocation: "entrance")
        #expect(refusal?.hasPrefix("entrance-1 claims roles display, presence but was provisioned with presence, scanner")
                == true, "\(refusal ?? "accepted")")
    }

    @Test func aRefusedRegistrationNamesTheDeviceBothSidesAndTheWayOut() throws {
        let refusal = try #require(RoleScope.registrationRefusal(
            device: "corridor-1", roles: ["presence", "scanner"], location: "entrance",
            provisionedRoles: ["guidance"], provisionedLocation: "corridor"))
        #expect(refusal.hasPrefix("corridor-1 claims roles presence, scanner but was provisioned with guidance "
            + "and location \"entrance\" but was provisioned at \"corridor\""))
        #expect(refusal.contains("nanoedge keys device corridor-1"))
        #expect(refusal.contains("[device]"))
    }

    @Test func contentIsForTheDisplayInTheMeetingsRoomAndForAdmins() {
        #expect(RoleScope.mayReadContent(roles: ["display"], location: "room-1", meetingRoom: "room-1"))
        #expect(RoleScope.mayReadContent(roles: ["admin"], location: "", meetingRoom: "room-1"))
        #expect(!RoleScope.mayReadContent(roles: ["display"], location: "room-2", meetingRoom: "room-1"))
        #expect(!RoleScope.mayReadContent(roles: ["presence", "scanner"], location: "room-1", meetingRoom: "room-1"))
        #expect(!RoleScope.mayReadContent(roles: ["guidance"], location: "corridor", meetingRoom: "room-1"))
        // Room ids compare as bytes, as SQLite stores them: a canonically equivalent spelling is another room.
        #expect(!RoleScope.mayReadContent(roles: ["display"], location: "caf\u{E9}", meetingRoom: "cafe\u{301}"))
    }

    @Test(arguments: [
        (["scanner", "*"], "GET", "registry/tags", true),
        (["admin", "*"], "GET", "registry/tags", true),
        (["guidance", "*"], "GET", "registry/tags", false),
        (["presence", "display", "*"], "GET", "registry/tags", false),
        (["*"], "GET", "registry/tags", false),
        (["guidance", "*"], "GET", "registry/events", true),
        (["guidance", "*"], "GET", "registry/persons", true),
        (["guidance", "*"], "GET", "registry/rooms", true),
        (["guidance", "*"], "GET", "registry/other", false),
    ])
    func standardRulesKeepTagIDsForScanners(roles: [String], method: String, path: String, allowed: Bool) {
        #expect(AccessPolicy.standard.allows(roles: roles, device: "pi-1", method: method, path: path) == allowed)
    }
}
