// What only the libgpiod 1.6 backend has: events as structs, requests as flags.
#if !LIBGPIOD_V2
import CGPIOD
@testable import GPIO
import Hardware
import Testing

@Suite struct LibgpiodV1Tests {
    @Test func edgeEventsBecomeMonotonicMilliseconds() {
        var event = gpiod_line_event()
        event.ts.tv_sec = 1234
        event.ts.tv_nsec = 567_890_123
        event.event_type = Int32(GPIOD_LINE_EVENT_RISING_EDGE)
        #expect(GPIOInput.edge(event) == LineEdge(rising: true, timestamp: 1_234_567))
        event.event_type = Int32(GPIOD_LINE_EVENT_FALLING_EDGE)
        #expect(GPIOInput.edge(event).rising == false)
    }

    @Test func biasFlags() {
        #expect(GPIOInput.Bias.pullDown.flags == Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN))
        #expect(GPIOInput.Bias.pullUp.flags == Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP))
        #expect(GPIOInput.Bias.disabled.flags == Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE))
        #expect(GPIOInput.Bias.asIs.flags == 0)
    }
}
#endif
