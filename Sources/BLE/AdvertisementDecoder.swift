import Hardware

/// HCI event bytes in, `Advertisement`s out: the HCI parser, the AD parser and the report filter in
/// one place, shared by the HCI scanner and the simulated board's HCI replay so both behave alike.
public struct AdvertisementDecoder: Sendable {
    public var filter: ReportFilter?
    /// Advertising reports parsed, and those that went through the filter.
    public private(set) var reportsParsed = 0
    public private(set) var reportsDelivered = 0

    /// `filter` nil delivers every report with its raw RSSI.
    public init(filter: ReportFilter.Configuration? = ReportFilter.Configuration()) {
        self.filter = filter.map { ReportFilter(configuration: $0) }
    }

    /// Parses one packet and hands each advertisement that passes the filter to `deliver`. Returns the
    /// parsed event, so the caller can look at command completions too.
    @discardableResult
    public mutating func decode(packet: [UInt8], now: Int64,
                                deliver: (Advertisement) -> Void) throws(HCIParseError) -> HCIEvent {
        let event = try HCIEvent(packet: packet)
        if case .advertisingReports(let reports) = event {
            for report in reports {
                if let advertisement = advertisement(from: report, now: now) { deliver(advertisement) }
            }
        }
        return event
    }

    /// One report: parsed, filtered, and made an `Advertisement`; nil when the filter drops it.
    public mutating func advertisement(from report: AdvertisingReport, now: Int64) -> Advertisement? {
        reportsParsed += 1
        let data = AdvertisingData(parsing: report.data)
        // No RSSI (127) is reported as the weakest value and kept out of the average.
        var rssi = report.rssi ?? -127
        if filter != nil, let raw = report.rssi {
            let source = ReportFilter.Source(address: report.address, kind: Self.kind(report, data))
            guard let smoothed = filter!.admit(source, rssi: raw, now: now) else { return nil }
            rssi = smoothed
        }
        reportsDelivered += 1
        return Advertisement(
            address: report.address.description, rssi: rssi, name: data.name, timestamp: now,
            addressType: report.addressType, eventType: report.eventType, flags: data.flags,
            txPower: data.txPower ?? report.txPower, serviceUUIDs: data.serviceUUIDs, serviceData: data.serviceData,
            manufacturerData: data.manufacturerData, iBeacon: data.iBeacon, eddystone: data.eddystone)
    }

    /// Scan responses and each Eddystone frame type are separate sources for the filter.
    static func kind(_ report: AdvertisingReport, _ data: AdvertisingData) -> UInt8 {
        var kind: UInt8 = report.eventType.isScanResponse ? 0x80 : 0
        if let frame = data.serviceData.first(where: { $0.uuid.shortValue == AdvertisingData.eddystoneUUID })?.data.first {
            kind |= 0x40 | (frame >> 4)
        }
        return kind
    }
}
