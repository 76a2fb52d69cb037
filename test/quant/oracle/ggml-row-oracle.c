/*
 * Test helper: run one of ggml's row functions from a shared libggml-base (the one node-llama-cpp
 * ships) on stdin and write the result to stdout, so the quant tests can compare lowbit's codecs
 * with ggml's own C code on arbitrary data.
 *
 *   GGML_BASE=/path/libggml-base.so ggml-row-oracle q <symbol> <n> <out_bytes>   f32[n] in, bytes out
 *   GGML_BASE=/path/libggml-base.so ggml-row-oracle d <symbol> <n> <in_bytes>    bytes in, f32[n] out
 *
 * Both row signatures are (const void * src, void * dst, int64_t n).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef void (*row_fn)(const void *, void *, int64_t);

int main(int argc, char ** argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s q|d symbol n bytes\n", argv[0]); return 2; }
    void * lib = dlopen(getenv("GGML_BASE"), RTLD_NOW);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    row_fn fn = (row_fn) dlsym(lib, argv[2]);
    if (!fn) { fprintf(stderr, "missing symbol %s\n", argv[2]); return 1; }
    const int quantize = argv[1][0] == 'q';
    const int64_t n = atoll(argv[3]);
    const size_t bytes = (size_t) atoll(argv[4]);
    const size_t in_size = quantize ? (size_t) n * 4 : bytes;
    const size_t out_size = quantize ? bytes : (size_t) n * 4;
    unsigned char * in = calloc(in_size + 64, 1);
    unsigned char * out = calloc(out_size + 64, 1);
    if (!in || !out) return 1;
    if (fread(in, 1, in_size, stdin) != in_size) { fprintf(stderr, "short input\n"); return 1; }
    fn(in, out, n);
    fwrite(out, 1, out_size, stdout);
    return 0;
}
