/* The peer for BLEBench's "hci+ad" mode: the same trace parsed in C with BlueZ's own structures
 * (evt_le_meta_event, le_advertising_info from <bluetooth/hci.h>), as hcitool lescan reads events,
 * with the same checks (framing, Num_Reports against the bytes, per-report lengths, RSSI) and the
 * same AD walk (flags, names, TX power, UUID lists, service data, manufacturer data, iBeacon,
 * Eddystone frame type). It parses in place and allocates nothing.
 *
 *   hci_parse_peer TRACE [ROUNDS]     prints {"mode":"c-bluez","reports_per_second":N,...}
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>

struct packet { uint8_t *bytes; size_t length; };

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* AD structures of one report; returns a checksum of what it decoded. */
static long walk_ad(const uint8_t *data, size_t length) {
    long sum = 0;
    size_t p = 0;
    while (p < length) {
        size_t len = data[p];
        if (len == 0 || length - p - 1 < len) break;
        uint8_t type = data[p + 1];
        const uint8_t *body = data + p + 2;
        size_t n = len - 1;
        switch (type) {
        case 0x01: if (n >= 1) sum += body[0]; break;
        case 0x02: case 0x03: if (n && n % 2 == 0) sum += n / 2; break;
        case 0x06: case 0x07: if (n && n % 16 == 0) sum += n / 16; break;
        case 0x08: case 0x09: sum += (long)n; break;
        case 0x0A: if (n >= 1) sum += (int8_t)body[0]; break;
        case 0x16:
            if (n >= 2) {
                uint16_t uuid = body[0] | body[1] << 8;
                if (uuid == 0xFEAA && n >= 3) sum += body[2];
            }
            break;
        case 0xFF:
            if (n >= 2) {
                uint16_t company = body[0] | body[1] << 8;
                if (company == 0x004C && n == 25 && body[2] == 0x02 && body[3] == 0x15)
                    sum += (body[20] << 8 | body[21]);
            }
            break;
        }
        p += 1 + len;
    }
    return sum;
}

/* One packet; returns the number of reports, or 0 if it is not a well-formed advertising report. */
static int parse(const uint8_t *buf, size_t length, long *checksum) {
    if (length < 3 || buf[0] != HCI_EVENT_PKT) return 0;
    const hci_event_hdr *hdr = (const void *)(buf + 1);
    if (hdr->evt != EVT_LE_META_EVENT || (size_t)hdr->plen + 3 != length || hdr->plen < 2) return 0;
    const evt_le_meta_event *meta = (const void *)(buf + 3);
    if (meta->subevent != EVT_LE_ADVERTISING_REPORT) return 0;
    const uint8_t *p = meta->data + 1, *end = buf + length;
    int count = meta->data[0];
    if (count < 1 || count > 25 || (size_t)(end - p) < (size_t)count * 10) return 0;
    for (int i = 0; i < count; i++) {
        if (end - p < LE_ADVERTISING_INFO_SIZE) return 0;
        const le_advertising_info *info = (const void *)p;
        if (info->evt_type > 4 || info->length > 31 || end - p < LE_ADVERTISING_INFO_SIZE + info->length + 1)
            return 0;
        int8_t rssi = (int8_t)info->data[info->length];
        *checksum += rssi + info->bdaddr.b[0] + walk_ad(info->data, info->length);
        p += LE_ADVERTISING_INFO_SIZE + info->length + 1;
    }
    return p == end ? count : 0;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: hci_parse_peer TRACE [ROUNDS]\n"); return 2; }
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1) rounds = 1;
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 1; }
    size_t cap = 1024, n = 0;
    struct packet *packets = malloc(cap * sizeof *packets);
    char *line = NULL;
    size_t linecap = 0;
    while (getline(&line, &linecap, f) > 0) {
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || *s == '\n' || *s == 0) continue;
        while (*s && *s != ' ' && *s != '\t') s++;   /* the time */
        uint8_t *bytes = malloc(strlen(s) / 2 + 1);
        size_t len = 0;
        int high = -1;
        for (; *s; s++) {
            int v = hexval(*s);
            if (v < 0) continue;
            if (high < 0) high = v; else { bytes[len++] = (uint8_t)(high << 4 | v); high = -1; }
        }
        if (n == cap) packets = realloc(packets, (cap *= 2) * sizeof *packets);
        packets[n++] = (struct packet){ bytes, len };
    }
    fclose(f);
    double *rates = malloc(rounds * sizeof *rates);
    long checksum = 0;
    for (int r = 0; r < rounds; r++) {
        uint64_t start = now_ns();
        long reports = 0;
        for (size_t i = 0; i < n; i++) reports += parse(packets[i].bytes, packets[i].length, &checksum);
        rates[r] = reports / ((now_ns() - start) / 1e9);
    }
    qsort(rates, rounds, sizeof *rates, compare);
    printf("{\"mode\":\"c-bluez\",\"reports_per_second\":%ld,\"packets\":%zu,\"rounds\":%d,\"checksum\":%ld}\n",
           (long)rates[rounds / 2], n, rounds, checksum);
    return 0;
}
