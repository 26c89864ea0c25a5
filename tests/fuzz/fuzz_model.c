// fuzz_model.c: libFuzzer target for the model file parser (cb_model_parse,
// what `chipbench cost --model FILE` reads), followed by what the cost
// command does with a parsed model: parameter counts and the training-step
// decomposition at B = 1, T = min(ctx, 1024) and at B = 2^20, T = ctx.
//
// The input is cut at its first NUL byte, as cb_model_load refuses a file
// holding one. Properties of a model that parses (abort() reports a
// violation, as libFuzzer expects): it passes cb_model_validate; its
// parameter counts are positive (UBSan catches an int64 overflow on the way);
// the step's FLOPs and bytes are finite and >= 0.
// What it is not: a check of the counts' values (tests/test_cost.c).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_model.h"
#include "chipbench/cb_step.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct cb_model m;
    if (cb_model_parse(text, "fuzz.model", &m) == CB_OK) {
        if (cb_model_validate(&m) != CB_OK)
            abort();
        struct cb_param_count pc;
        cb_model_params(&m, &pc);
        if (pc.total <= 0 || pc.matmul <= 0 || pc.lm_head <= 0)
            abort();
        // The default micro-batch, and the largest one cb_step_build takes.
        const int64_t bt[2][2] = {{1, m.ctx < 1024 ? m.ctx : 1024}, {1 << 20, m.ctx}};
        for (int i = 0; i < 2; i++) {
            struct cb_step st;
            if (cb_step_build(&m, bt[i][0], bt[i][1], CB_DTYPE_BF16, &st) != CB_OK)
                continue;
            struct cb_step_memory mem;
            cb_step_memory(&st, &mem);
            double fl = cb_step_flops(&st), by = cb_step_mem_bytes(&st);
            if (!(fl >= 0) || !isfinite(fl) || !(by >= 0) || !isfinite(by) ||
                !(mem.total >= 0) || !isfinite(mem.total))
                abort();
            for (int k = 0; k < st.n; k++)
                cb_step_first_of_shape(&st, k);
        }
    }
    free(text);
    return 0;
}
