// Writes the seed corpora of the fuzz targets (committed in tests/fuzz/corpus/):
//   make_seeds <dir>   ->  <dir>/checkpoint/*, <dir>/idx/*
// Inputs follow each target's layout (see the comments of fuzz_checkpoint.cc and
// fuzz_idx.cc): checkpoint seeds start with the mode byte.
#include <cstdio>
#include <string>
#include <vector>

#include "core/trainer.h"
#include "fuzz_common.h"

namespace {

std::string g_dir;

void put(const std::string& sub, const std::string& name, const std::string& bytes) {
  const std::string path = g_dir + "/" + sub + "/" + name;
  FILE* f = fopen(path.c_str(), "wb");
  if (!f || fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || fclose(f) != 0) {
    fprintf(stderr, "make_seeds: cannot write %s\n", path.c_str());
    exit(1);
  }
  printf("%8zu  %s\n", bytes.size(), path.c_str());
}

std::string header_of(const std::string& file) {
  uint64_t hl = 0;
  for (int i = 7; i >= 0; --i) hl = (hl << 8) | (uint8_t)file[i];
  std::string h = file.substr(8, hl);
  while (!h.empty() && h.back() == ' ') h.pop_back();
  return h;
}

std::string with_len(const std::string& header, const std::string& data = "") {
  std::string f;
  const uint64_t hl = header.size();
  for (int i = 0; i < 8; ++i) f.push_back((char)(hl >> (8 * i)));
  return f + header + data;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds <corpus dir>\n");
    return 2;
  }
  g_dir = argv[1];
  const std::string C = "checkpoint", I = "idx";

  // --- checkpoints (first byte: mode 0 raw, 1 checksum fixed, 2/3 header only)
  const std::string trained = fuzz::trained_checkpoint();
  wt::Trainer fresh_t(fuzz::config());
  const std::string fresh = fresh_t.save_checkpoint();  // step 0, no data, no history
  wt::Trainer imported(fuzz::config());                 // as if from PyTorch: no history
  fuzz::give_data(imported);
  imported.mutable_state().step = 5;
  imported.mutable_state().epoch = 2;
  imported.mutable_state().epoch_step = 1;
  const std::string no_history = imported.save_checkpoint();

  put(C, "trained-raw", std::string(1, '\0') + trained);
  put(C, "fresh-fixcrc", std::string(1, '\1') + fresh);
  put(C, "trained-header", std::string(1, '\2') + header_of(trained));
  put(C, "fresh-header", std::string(1, '\3') + header_of(fresh));
  put(C, "nohistory-header", std::string(1, '\2') + header_of(no_history));
  // Every dtype, a 0-d and a 0-size tensor, an unsupported dtype, a bad checksum.
  put(C, "dtypes-header",
      std::string(1, '\2') +
          "{\"__metadata__\":{\"checksum\":\"crc32:00000000\",\"format\":\"x\"},"
          "\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
          "\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[16,24]},"
          "\"c\":{\"dtype\":\"I32\",\"shape\":[1,1],\"data_offsets\":[24,28]},"
          "\"d\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[28,28]},"
          "\"e\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[28,32]}}");
  put(C, "bf16-raw", std::string(1, '\0') +
                         with_len("{\"t\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]}}", "ab"));
  put(C, "overlap-raw",
      std::string(1, '\0') +
          with_len("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                   "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
                   "xyz"));
  put(C, "metadata-only", std::string(1, '\1') + with_len("{\"__metadata__\":{\"checksum\":\"crc32:00000000\"}}"));
  put(C, "huge-length", std::string(1, '\0') + std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10));
  put(C, "empty-object", std::string(1, '\0') + with_len("{}"));
  put(C, "short", std::string("\0\x02\0\0", 4));

  // --- IDX (byte 0: train limit, byte 1: test limit, parts split at "|SEP|")
  const fuzz::Idx tr = fuzz::tiny_set(2, 11), te = fuzz::tiny_set(1, 12);
  const std::string S = "|SEP|";
  put(I, "pair-nolimit", std::string(2, '\0') + tr.images + S + tr.labels + S + te.images + S + te.labels);
  put(I, "pair-limit1", std::string("\1\1", 2) + tr.images + S + tr.labels + S + te.images + S + te.labels);
  const fuzz::Idx small = fuzz::tiny_set(3, 13, 2, 2);  // 2x2 images: refused by the model
  put(I, "small-images", std::string(2, '\0') + small.images + S + small.labels + S + small.images + S + small.labels);
  fuzz::Idx bad = fuzz::tiny_set(2, 14);
  bad.labels.back() = 10;  // label outside 0..9
  put(I, "label10", std::string(2, '\0') + bad.images + S + bad.labels + S + te.images + S + te.labels);
  // Whole-input IDX files (parse_idx sees the input as given).
  put(I, "labels-1d", fuzz::idx_file({3}, std::string("\1\2\3", 3)));
  put(I, "four-dims", fuzz::idx_file({1, 2, 1, 2}, "abcd"));
  put(I, "type-float", fuzz::idx_file({1}, "abcd", 0x0D));
  put(I, "overflow-dims", fuzz::idx_file({0xffffffffu, 0xffffffffu, 2}, ""));
  put(I, "zero-dim", fuzz::idx_file({2, 0}, ""));
  put(I, "truncated", fuzz::idx_file({2, 3}, "abc"));
  return 0;
}
