// What only the libgpiod 2 backend has: a request built from settings objects, which the library
// reads back without a chip.
#if LIBGPIOD_V2
import CGPIOD
@testable import GPIO
import Hardware
import Testing

@Suite struct LibgpiodV2Tests {
    @Test(arguments: [
        (GPIOInput.Bias.pullDown, GPIOD_LINE_BIAS_PULL_DOWN), (.pullUp, GPIOD_LINE_BIAS_PULL_UP),
        (.disabled, GPIOD_LINE_BIAS_DISABLED), (.asIs, GPIOD_LINE_BIAS_AS_IS),
    ])
    func anInputAsksForBothEdgesOnTheMonotonicClock(bias: GPIOInput.Bias, expected: gpiod_line_bias) throws {
        let settings = try GPIOChip.settings(.bothEdges(bias))
        defer { gpiod_line_settings_free(settings) }
        #expect(gpiod_line_settings_get_direction(settings) == GPIOD_LINE_DIRECTION_INPUT)
        #expect(gpiod_line_settings_get_edge_detection(settings) == GPIOD_LINE_EDGE_BOTH)
        #expect(gpiod_line_settings_get_bias(settings) == expected)
        #expect(gpiod_line_settings_get_event_clock(settings) == GPIOD_LINE_CLOCK_MONOTONIC)
    }

    @Test func anOutputStartsLow() throws {
        let settings = try GPIOChip.settings(.outputLow)
        defer { gpiod_line_settings_free(settings) }
        #expect(gpiod_line_settings_get_direction(settings) == GPIOD_LINE_DIRECTION_OUTPUT)
        #expect(gpiod_line_settings_get_output_value(settings) == GPIOD_LINE_VALUE_INACTIVE)
        #expect(gpiod_line_settings_get_edge_detection(settings) == GPIOD_LINE_EDGE_NONE)
    }

    @Test func everyRequestCarriesTheConsumerName() throws {
        let config = try GPIOChip.requestConfig()
        defer { gpiod_request_config_free(config) }
        #expect(String(cString: gpiod_request_config_get_consumer(config)) == "nanoedge")
    }
}
#endif
