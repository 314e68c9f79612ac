/* fuzz_mbap: what a Modbus TCP peer sends back to a read (see fuzz_link.h): the
 * MBAP header checks, transaction and unit matching, the PDU's checks. The
 * link's first transaction id is 1, unit 1. */
#include "tests/fuzz/fuzz_link.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_link_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    fuzz_link_run(MB_TCP, data, size);
    return 0;
}
