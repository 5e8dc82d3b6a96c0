/// What a device's provisioned roles and location let it say and read, beyond which resources it may
/// reach (that is `AccessPolicy`): the kinds of event it may report, whether its registration agrees
/// with its provisioning, and which meetings' content it may see.
///
/// Roles and location come from provisioning (`nanoedge keys device`) alone; a device never widens them.
public enum RoleScope {
    /// The roles a device may be provisioned with that name what it does at the site.
    public static let deviceRoles: Set<String> = ["presence", "scanner", "guidance", "display"]
    public static let admin = "admin"

    /// The roles that may report an event of `kind`, or nil for a kind nobody reports.
    ///
    /// Motion comes from a PIR (presence), scan results from BLE (scanner), guidance state from the
    /// LEDs (guidance), presented and hidden from a screen (display). Faults and applied configs are
    /// about the device itself, so any site role reports them.
    public static func roles(reporting kind: String) -> Set<String>? {
        switch kind {
        case "motion": ["presence"]
        case "scan": ["scanner"]
        case "guidance": ["guidance"]
        case "presented", "hidden": ["display"]
        case "fault", "config": deviceRoles
        default: nil
        }
    }

    /// Why `device` may not report `kind`, or nil when one of its provisioned roles reports it.
    public static func eventRefusal(device: String, kind: String, provisioned: [String]) -> String? {
        guard let allowed = roles(reporting: kind) else { return "\(device) may not report \(kind) events" }
        if provisioned.contains(where: allowed.contains) { return nil }
        return "\(device) (provisioned roles: \(list(provisioned))) may not report \(kind) events; "
            + "they come from a device with the role \(allowed.sorted().joined(separator: " or "))"
    }

    /// Why a registration that claims `roles` and `location` is refused, or nil when it agrees with the
    /// provisioning. Claiming no roles, or an empty location, claims nothing: the provisioned ones hold.
    /// A device may run fewer roles than it holds (a Pi without its BLE adapter still reports motion),
    /// never one it was not provisioned with (`admin` is never claimed at registration).
    public static func registrationRefusal(device: String, roles claimed: [String], location: String,
                                           provisionedRoles: [String], provisionedLocation: String) -> String? {
        let held = Set(provisionedRoles).intersection(deviceRoles)
        var problems: [String] = []
        if !claimed.isEmpty, !Set(claimed).isSubset(of: held) {
            problems.append("roles \(list(claimed.sorted())) but was provisioned with \(list(held.sorted()))")
        }
        if !location.isEmpty, location.utf8.elementsEqual(provisionedLocation.utf8) == false {
            problems.append("location \"\(location)\" but was provisioned at \"\(provisionedLocation)\"")
        }
        guard !problems.isEmpty else { return nil }
        return "\(device) claims \(problems.joined(separator: " and ")); roles and location come from provisioning: "
            + "correct [device] roles and location in the agent's config, or re-provision the device "
            + "(nanoedge keys device \(device) --location ROOM --role ROLE … --force, which issues a new key)"
    }

    /// Whether a device may read the content of a meeting held in `room`: an admin, or a display in that room.
    public static func mayReadContent(roles: [String], location: String, meetingRoom: String) -> Bool {
        roles.contains(admin)
            || (roles.contains("display") && !location.isEmpty && location.utf8.elementsEqual(meetingRoom.utf8))
    }

    private static func list(_ roles: [String]) -> String {
        roles.isEmpty ? "none" : roles.joined(separator: ", ")
    }
}
