/* fuzz_rtu_reply: an RTU reply's bytes. mb_frame's pure functions over every
 * prefix (the length of a reply must not change once told, and stays within an
 * RTU frame), then the same bytes as the stream of an RTU-over-TCP link (see
 * fuzz_link.h): echoes, noise, the reply search, the CRC, the PDU's checks. */
#include "tests/fuzz/fuzz_link.h"
#include "drivers/mb_frame.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_link_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size >= 2) {
        const uint8_t *b = data + 2;
        size_t n = size - 2;
        int told = 0;   /* the first answer other than "more bytes" */
        for (size_t have = 0; have <= n && have <= MB_RTU_MAX + 4; have++) {
            int len = mb_rtu_reply_length(b, have);
            /* never longer than an RTU frame can be (corpus/fuzz_rtu_reply/
             * byte_count_255_length_260 was 260) */
            if (len > MB_RTU_MAX || (len > 0 && len < 4))
                abort();
            if (told && len != told)
                abort();    /* once told, the length (or -1) does not change */
            if (len)
                told = len;
        }
        if (told > 0 && (size_t)told <= n)
            (void)mb_rtu_crc_ok(b, (size_t)told);
        (void)mb_rtu_crc_ok(b, n);
    }
    fuzz_link_run(MB_RTU_TCP, data, size);
    return 0;
}
