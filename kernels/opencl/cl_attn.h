// cl_attn.h: tuning hooks of the OpenCL attention forward (attn_f32_opencl),
// private to kernels/opencl, the tuner and the tests. A parameter set reads
// "BQ=32,BK=32,TX=16,RQ=4,PAD=4" (the rows variant, attn_flash.cl's defines)
// or "tiles:BQ=64,BK=128,TK=8,TV=8,RM=8,RS=8,PAD=4" (attn_flash_tiles.cl):
// keys not given keep the variant's default. That is also the format of its
// tuning-file entries and of CHIPBENCH_CL_ATTN. Entries are keyed by head dim
// ("d128"): D decides the register and local-memory footprint, the sequence
// length only how many work-groups there are.
#ifndef CHIPBENCH_CL_ATTN_H
#define CHIPBENCH_CL_ATTN_H

#include <stddef.h>

#include "chipbench/cb_status.h"

struct cb_clrt;

// Force a parameter set for every following plan (NULL: back to the tuning
// file and defaults). CB_ERR_PARSE when the text is not a valid set.
enum cb_status cb_cl_attn_force(const char *params);

// Does the set fit the device at head dim d (work-group size, local
// memory)? CB_ERR_UNSUPPORTED with the reason, CB_ERR_PARSE on bad text.
enum cb_status cb_cl_attn_params_fit(const struct cb_clrt *rt, const char *params, int d);

// The parameter text attn_f32_opencl uses on rt at head dim d when nothing
// is forced or tuned: on GPUs the first built-in tiles set that fits, else
// the device type's rows default adapted to d. Reads only rt->info (type,
// local memory, work-group limit), so a test can pass a made-up device.
// CB_ERR_UNSUPPORTED (with buf still filled) when not even that fits.
enum cb_status cb_cl_attn_default(const struct cb_clrt *rt, int d, char *buf, size_t len);

// The tuning file's shape class for head dim d: "d<d>".
void cb_cl_attn_shape_class(int head_dim, char *buf, size_t len);

#endif
