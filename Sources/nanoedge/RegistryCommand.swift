import ArgumentParser
import CryptoEVP
import Gateway
import JSON
import Site

extension Room.Kind: ExpressibleByArgument {}
extension Room.Direction: ExpressibleByArgument {}

struct RegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Edit the site's registry: persons, their BLE tags, rooms and events (meetings).",
        discussion: """
            Changes go straight to the site database; a running gateway sees them at its next look-up.
            """,
        subcommands: [PersonCommand.self, TagCommand.self, RoomCommand.self, EventCommand.self])
}

// MARK: Persons

struct PersonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "person",
        abstract: "Add, remove and list persons.",
        subcommands: [Add.self, Remove.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a person.")

        @Argument(help: "The person's id (e.g. alice).")
        var id: String

        @Option(help: "The person's display name.")
        var name: String

        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard isIdentifier(id) else { throw ValidationError(identifierRule("person id", id)) }
        }

        func run() throws {
            try reportingFailures {
                try database.openForWriting().addPerson(Person(id: id, name: name))
                print("added person \(id) (\(name))")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a person, with their tags and invitations.")

        @Argument(help: "The person's id.")
        var id: String

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingFailures {
                try database.openForWriting().removePerson(id: id)
                print("removed person \(id)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List persons by id.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let persons = try database.openForReading().persons()
                if json.enabled {
                    printJSON(.array(persons.map { ["id": .string($0.id), "name": .string($0.name)] }))
                } else if persons.isEmpty {
                    print("no persons")
                } else {
                    printTable([["ID", "NAME"]] + persons.map { [$0.id, $0.name] })
                }
            }
        }
    }
}

// MARK: Tags

struct TagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Add, remove and list BLE tags; a tag's id is the keyed hash of its address.",
        subcommands: [Add.self, Remove.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a person a BLE tag.",
            discussion: """
                Give either the tag's address and the site key file (`nanoedge keys site-key`), and the \
                address is hashed here, or the tag id (the hash) itself. The raw address is not stored.
                """)

        @Option(help: ArgumentHelp("The id of the person who carries the tag.", valueName: "id"))
        var person: String

        @Option(help: ArgumentHelp("The tag's BLE address.", valueName: "AA:BB:CC:DD:EE:FF"))
        var address: String?

        @Option(help: ArgumentHelp("The site key file to hash --address with.", valueName: "file"))
        var siteKey: String?

        @Option(name: .customLong("id"),
                help: ArgumentHelp("The tag id (24 hex digits) instead of an address.", valueName: "hash"))
        var tagID: String?

        @Option(help: ArgumentHelp("A label for people, e.g. \"alice-badge\".", valueName: "label"))
        var label: String = ""

        @OptionGroup var database: DatabaseOptions

        /// `TagHasher` keeps 12 bytes of the HMAC.
        static let tagIDLength = 24

        func validate() throws {
            switch (address, tagID) {
            case (nil, nil):
                throw ValidationError("give --address with --site-key, or --id")
            case (.some, .some):
                throw ValidationError("give either --address or --id, not both")
            case (let address?, nil):
                guard isBLEAddress(address) else {
                    throw ValidationError("invalid --address \"\(address)\": expected AA:BB:CC:DD:EE:FF")
                }
                guard siteKey != nil else { throw ValidationError("--address needs --site-key FILE to hash it") }
            case (nil, let tagID?):
                guard siteKey == nil else { throw ValidationError("--site-key is only used with --address") }
                guard tagID.utf8.count == Self.tagIDLength, Hex.decode(tagID) != nil else {
                    throw ValidationError("invalid --id \"\(tagID)\": expected \(Self.tagIDLength) hex digits")
                }
            }
        }

        func run() throws {
            try reportingFailures {
                let id: String
                if let address, let siteKey {
                    id = TagHasher(siteKey: try readSiteKey(siteKey)).tagID(forAddress: address.uppercased())
                } else {
                    id = tagID!.lowercased()
                }
                try database.openForWriting().addTag(Tag(id: id, person: person, label: label))
                print("added tag \(id) for \(person)" + (label.isEmpty ? "" : " (\(label))"))
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a tag.")

        @Argument(help: "The tag id (as `tag list` shows it).")
        var id: String

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingFailures {
                try database.openForWriting().removeTag(id: id.lowercased())
                print("removed tag \(id.lowercased())")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tags by id.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let tags = try database.openForReading().tags()
                if json.enabled {
                    printJSON(.array(tags.map {
                        ["id": .string($0.id), "person": .string($0.person), "label": .string($0.label)]
                    }))
                } else if tags.isEmpty {
                    print("no tags")
                } else {
                    printTable([["ID", "PERSON", "LABEL"]] + tags.map { [$0.id, $0.person, $0.label] })
                }
            }
        }
    }
}

func isBLEAddress(_ text: String) -> Bool {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    return parts.count == 6 && parts.allSatisfy { $0.utf8.count == 2 && Hex.decode(String($0)) != nil }
}

/// The site key file: hex, as `nanoedge keys site-key` writes it.
func readSiteKey(_ path: String) throws -> [UInt8] {
    let text = try readTextFile(path, limit: 4096)
    guard let key = Hex.decode(text), key.count >= 16 else {
        throw CommandFailure("\(path) does not hold a site key (at least 32 hex digits)")
    }
    return key
}

// MARK: Rooms

struct RoomCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "room",
        abstract: "Add, remove and list rooms.",
        subcommands: [Add.self, Remove.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a room.")

        @Argument(help: "The room's id (e.g. room-1); devices name it as their --location.")
        var id: String

        @Option(help: "The room's display name.")
        var name: String

        @Option(help: "What the room is.")
        var kind: Room.Kind

        @Option(help: "Which way the corridor chase runs to lead a visitor to this room.")
        var guidance: Room.Direction = .forward

        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard isIdentifier(id) else { throw ValidationError(identifierRule("room id", id)) }
        }

        func run() throws {
            try reportingFailures {
                try database.openForWriting().addRoom(Room(id: id, name: name, kind: kind, guidance: guidance))
                print("added room \(id) (\(name), \(kind.rawValue), guidance \(guidance.rawValue))")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a room that no event uses.")

        @Argument(help: "The room's id.")
        var id: String

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingFailures {
                try database.openForWriting().removeRoom(id: id)
                print("removed room \(id)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List rooms by id.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let rooms = try database.openForReading().rooms()
                if json.enabled {
                    printJSON(.array(rooms.map {
                        ["id": .string($0.id), "name": .string($0.name), "kind": .string($0.kind.rawValue),
                         "guidance": .string($0.guidance.rawValue)]
                    }))
                } else if rooms.isEmpty {
                    print("no rooms")
                } else {
                    printTable([["ID", "KIND", "GUIDANCE", "NAME"]]
                        + rooms.map { [$0.id, $0.kind.rawValue, $0.guidance.rawValue, $0.name] })
                }
            }
        }
    }
}

// MARK: Events

struct EventCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "event",
        abstract: "Add, remove and list events: meetings with a room, invitees and content to present.",
        subcommands: [Add.self, Remove.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an event.",
            discussion: """
                Times are `now`, relative to now (+30m, -10m, +2h; also s and d), or UTC ISO 8601 \
                (2026-11-22T10:00Z, 2026-11-22T10:00:30Z). Relative times count from when the command \
                runs, for --ends too. Invitees are expected from an hour before the start until the end.
                """)

        @Argument(help: "The event's id (e.g. weekly-sync).")
        var id: String

        @Option(help: "The title shown in the room.")
        var title: String

        @Option(help: ArgumentHelp("The id of the meeting room.", valueName: "room"))
        var room: String

        @Option(name: .customLong("invite"),
                help: ArgumentHelp("The id of an invited person; repeat for several.", valueName: "person"))
        var invitees: [String] = []

        // Unconditional parsing, so that a relative time such as -5m is a value and not an option.
        @Option(parsing: .unconditional,
                help: ArgumentHelp("When it starts: now, +Nm, -Nm, +Nh or YYYY-MM-DDTHH:MM[:SS]Z.",
                                   valueName: "time"),
                transform: { text in try TimeSpec.parse(text) })
        var starts: TimeSpec

        @Option(parsing: .unconditional,
                help: ArgumentHelp("When it ends: +Nh, +Nm or YYYY-MM-DDTHH:MM[:SS]Z.", valueName: "time"),
                transform: { text in try TimeSpec.parse(text) })
        var ends: TimeSpec

        @Option(help: ArgumentHelp("The content to present in the room.", valueName: "text"))
        var content: String?

        @Option(help: ArgumentHelp("A UTF-8 file with the content to present.", valueName: "file"))
        var contentFile: String?

        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard isIdentifier(id) else { throw ValidationError(identifierRule("event id", id)) }
            guard !invitees.isEmpty else { throw ValidationError("give at least one --invite PERSON") }
            switch (content, contentFile) {
            case (nil, nil): throw ValidationError("give --content TEXT or --content-file FILE")
            case (.some, .some): throw ValidationError("give either --content or --content-file, not both")
            default: break
            }
        }

        func run() throws {
            try reportingFailures {
                let now = currentEpochMilliseconds()
                let text = try content ?? readTextFile(contentFile!)
                let meeting = Meeting(id: id, title: title, room: room, startsAt: starts.resolve(now: now),
                                      endsAt: ends.resolve(now: now), invitees: invitees, content: text)
                guard meeting.endsAt >= meeting.startsAt else {
                    throw CommandFailure("event \"\(id)\" would end (\(formatTimestamp(meeting.endsAt))) before it "
                        + "starts (\(formatTimestamp(meeting.startsAt)))")
                }
                try database.openForWriting().addMeeting(meeting)
                print("added event \(id): \(title) in \(room), \(formatTimestamp(meeting.startsAt)) to "
                    + "\(formatTimestamp(meeting.endsAt)), inviting \(invitees.joined(separator: ", "))")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an event.")

        @Argument(help: "The event's id.")
        var id: String

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingFailures {
                try database.openForWriting().removeMeeting(id: id)
                print("removed event \(id)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List events by start time.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let meetings = try database.openForReading().meetings()
                if json.enabled {
                    printJSON(.array(meetings.map { meeting in
                        [
                            "id": .string(meeting.id), "title": .string(meeting.title), "room": .string(meeting.room),
                            "startsAt": .int(meeting.startsAt), "endsAt": .int(meeting.endsAt),
                            "starts": .string(formatTimestamp(meeting.startsAt)),
                            "ends": .string(formatTimestamp(meeting.endsAt)),
                            "invitees": .array(meeting.invitees.map { .string($0) }),
                            "content": .string(meeting.content),
                        ]
                    }))
                } else if meetings.isEmpty {
                    print("no events")
                } else {
                    printTable([["ID", "STARTS", "ENDS", "ROOM", "INVITEES", "TITLE"]] + meetings.map {
                        [$0.id, formatTimestamp($0.startsAt), formatTimestamp($0.endsAt), $0.room,
                         $0.invitees.joined(separator: ","), $0.title]
                    })
                }
            }
        }
    }
}
