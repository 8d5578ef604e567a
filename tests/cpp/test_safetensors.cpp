// The safetensors container (src/core/safetensors.h) and the trainer's checkpoints
// (Trainer::save_checkpoint / load_checkpoint, CHECKPOINT_FORMAT.md): exact round
// trips, and every kind of damage refused with a message, leaving the trainer
// exactly as it was.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/crc32.h"
#include "core/safetensors.h"
#include "core/trainer.h"
#include "synthetic_data.h"
#include "trainer_util.h"

namespace {

using json = nlohmann::json;
using namespace trainer_util;

void expect_contains(const std::string& msg, const std::string& needle) {
  EXPECT_NE(msg.find(needle), std::string::npos) << "message \"" << msg << "\" lacks \"" << needle << "\"";
}

wt::Status parse(const std::string& f, wt::SafetensorsView* v = nullptr, bool require = true) {
  wt::SafetensorsView tmp;
  return wt::parse_safetensors((const uint8_t*)f.data(), f.size(), require, v ? v : &tmp);
}

// A safetensors file from a hand-written JSON header: padded with spaces to a
// multiple of 8; if the header holds "checksum":"crc32:00000000", the digits are
// set per CHECKPOINT_FORMAT.md (CRC-32 of the file with them as zeros), computed
// here independently of write_safetensors.
std::string raw_file(std::string header, const std::string& data) {
  while (header.size() % 8) header.push_back(' ');
  std::string f(8, '\0');
  for (int i = 0; i < 8; ++i) f[i] = (char)(((uint64_t)header.size() >> (8 * i)) & 0xFF);
  f += header + data;
  const std::string key = "\"checksum\":\"crc32:00000000\"";
  const size_t at = f.find(key);
  if (at != std::string::npos) {
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", wt::crc32((const uint8_t*)f.data(), f.size()));
    memcpy(&f[at + key.size() - 9], hex, 8);
  }
  return f;
}

// ---------------------------------------------------------------- container

TEST(Safetensors, WriteParseRoundTrip) {
  const std::vector<float> f32 = {1.5f, -2.f, 3.25f, NAN, 0.f, -0.f};
  const std::vector<double> f64 = {1e300, -1e-300};
  const std::vector<int64_t> i64 = {-1, 1LL << 40, 7};
  const std::vector<int32_t> i32 = {42};
  const std::vector<uint8_t> u8 = {0, 255, 9};
  std::map<std::string, std::string> md = {{"a", "x"}, {"format_version", "1"}, {"quote", "say \"hi\"\n"}};
  const std::string file = wt::write_safetensors(
      {{"z.f32", "F32", {2, 3}, f32.data(), 24},
       {"a.f64", "F64", {2}, f64.data(), 16},
       {"m.i64", "I64", {3}, i64.data(), 24},
       {"scalar", "I32", {}, i32.data(), 4},
       {"empty", "F32", {0, 5}, nullptr, 0},
       {"b.u8", "U8", {3}, u8.data(), 3}},
      md);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = hlen << 8 | (uint8_t)file[i];
  EXPECT_EQ(hlen % 8, 0u) << "header padded to 8 bytes";
  EXPECT_EQ(file.size(), 8 + hlen + 24 + 16 + 24 + 4 + 3);
  wt::SafetensorsView v;
  const wt::Status s = parse(file, &v);
  ASSERT_TRUE(s.ok()) << s.message;
  ASSERT_EQ(v.tensors.size(), 6u);
  const char* order[] = {"a.f64", "b.u8", "empty", "m.i64", "scalar", "z.f32"};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(v.tensors[i].name, order[i]);
  auto bytes_of = [&](const char* name, const void* want, size_t n, const char* dtype,
                      std::vector<int64_t> shape) {
    const wt::TensorInfo* t = v.find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->dtype, dtype);
    EXPECT_EQ(t->shape, shape) << name;
    ASSERT_EQ(t->end - t->begin, n) << name;
    if (n) {
      EXPECT_EQ(0, memcmp(v.data + t->begin, want, n)) << name;
    }
  };
  bytes_of("z.f32", f32.data(), 24, "F32", {2, 3});
  bytes_of("a.f64", f64.data(), 16, "F64", {2});
  bytes_of("m.i64", i64.data(), 24, "I64", {3});
  bytes_of("scalar", i32.data(), 4, "I32", {});
  bytes_of("empty", nullptr, 0, "F32", {0, 5});
  bytes_of("b.u8", u8.data(), 3, "U8", {3});
  for (const auto& [k, val] : md) EXPECT_EQ(v.metadata[k], val) << k;
  ASSERT_EQ(v.metadata.count("checksum"), 1u);
  // Tensors laid out in name order (the reference implementation's layout).
  size_t pos = 0;
  for (const wt::TensorInfo& t : v.tensors) {
    EXPECT_EQ(t.begin, pos) << t.name;
    pos = t.end;
  }
}

TEST(Safetensors, ChecksumIsCrc32WithDigitsZeroed) {
  const float x[2] = {1.f, 2.f};
  std::string file = wt::write_safetensors({{"x", "F32", {2}, x, 8}}, {});
  const std::string key = "\"checksum\":\"crc32:";
  const size_t at = file.find(key);
  ASSERT_NE(at, std::string::npos);
  const std::string stored = file.substr(at + key.size(), 8);
  std::string zeroed = file;
  memcpy(&zeroed[at + key.size()], "00000000", 8);
  char hex[9];
  snprintf(hex, sizeof hex, "%08x", wt::crc32((const uint8_t*)zeroed.data(), zeroed.size()));
  EXPECT_EQ(stored, hex);
  // Python's zlib.crc32(b"123456789") == 0xcbf43926: the IEEE polynomial.
  EXPECT_EQ(wt::crc32((const uint8_t*)"123456789", 9), 0xCBF43926u);
  // Hand-built files with the same rule parse.
  const std::string raw =
      raw_file("{\"__metadata__\":{\"checksum\":\"crc32:00000000\"},\"x\":{\"dtype\":\"F32\","
               "\"shape\":[2],\"data_offsets\":[0,8]}}",
               std::string((const char*)x, 8));
  const wt::Status s = parse(raw);
  EXPECT_TRUE(s.ok()) << s.message;
}

TEST(Safetensors, MissingChecksumRefusedWhenRequired) {
  const std::string f = raw_file("{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", "ab");
  EXPECT_TRUE(parse(f, nullptr, /*require=*/false).ok());
  const wt::Status s = parse(f, nullptr, true);
  ASSERT_FALSE(s.ok());
  expect_contains(s.message, "no checksum");
}

struct Bad {
  const char* what;
  std::string header, data, needle;
};

TEST(Safetensors, MalformedHeadersRefused) {
  const std::string cs = "\"__metadata__\":{\"checksum\":\"crc32:00000000\"}";
  auto t = [](const char* name, const char* dtype, const char* shape, const char* offs) {
    return std::string("\"") + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":" + offs + "}";
  };
  const std::vector<Bad> cases = {
      {"overlap", "{" + cs + "," + t("a", "F32", "[2]", "[0,8]") + "," + t("b", "F32", "[2]", "[4,12]") + "}",
       std::string(12, 'x'), "\"b\" overlaps"},
      {"same offsets", "{" + cs + "," + t("a", "F32", "[2]", "[0,8]") + "," + t("b", "F32", "[2]", "[0,8]") + "}",
       std::string(8, 'x'), "overlaps"},
      {"gap", "{" + cs + "," + t("a", "F32", "[1]", "[0,4]") + "," + t("b", "F32", "[1]", "[8,12]") + "}",
       std::string(12, 'x'), "gap of 4 bytes before tensor \"b\""},
      {"gap at start", "{" + cs + "," + t("a", "U8", "[2]", "[2,4]") + "}", std::string(4, 'x'),
       "gap of 2 bytes"},
      {"trailing", "{" + cs + "," + t("a", "U8", "[2]", "[0,2]") + "}", std::string(5, 'x'),
       "3 unexpected bytes follow the last tensor"},
      {"outside", "{" + cs + "," + t("a", "U8", "[4]", "[0,4]") + "}", std::string(3, 'x'),
       "fall outside the data section of 3 bytes"},
      {"reversed offsets", "{" + cs + "," + t("a", "U8", "[0]", "[2,1]") + "}", std::string(2, 'x'),
       "fall outside"},
      {"size vs shape", "{" + cs + "," + t("a", "F32", "[3]", "[0,8]") + "}", std::string(8, 'x'),
       "holds 8 bytes but dtype F32 and its shape need 12"},
      {"dtype", "{" + cs + "," + t("a", "BF16", "[2]", "[0,4]") + "}", std::string(4, 'x'),
       "dtype BF16 is not supported"},
      {"negative dim", "{" + cs + "," + t("a", "U8", "[-2]", "[0,2]") + "}", std::string(2, 'x'),
       "not a non-negative integer"},
      {"huge shape", "{" + cs + "," + t("a", "U8", "[1099511627776,1099511627776]", "[0,2]") + "}",
       std::string(2, 'x'), "too large"},
      {"offsets", "{" + cs + "," + t("a", "U8", "[2]", "[0]") + "}", std::string(2, 'x'),
       "data_offsets must be two"},
      {"not json", "{" + cs + ",\"a\":", "", "not a valid JSON object"},
      {"json array", "[1,2]", "", "not a valid JSON object"},
      {"metadata value", "{\"__metadata__\":{\"checksum\":\"crc32:00000000\",\"n\":5}}", "",
       "metadata value \"n\" is not a string"},
      {"checksum format", "{\"__metadata__\":{\"checksum\":\"crc32:00000000x\"}}", "", "malformed"},
  };
  for (const Bad& b : cases) {
    const wt::Status s = parse(raw_file(b.header, b.data));
    ASSERT_FALSE(s.ok()) << b.what << " accepted";
    expect_contains(s.message, b.needle);
  }
}

TEST(Safetensors, HeaderLengthFieldRefused) {
  const float x[1] = {1.f};
  const std::string good = wt::write_safetensors({{"x", "F32", {1}, x, 4}}, {});
  ASSERT_TRUE(parse(good).ok());
  std::string f = good;
  const uint64_t huge = 1ull << 40;
  for (int i = 0; i < 8; ++i) f[i] = (char)((huge >> (8 * i)) & 0xFF);
  wt::Status s = parse(f);
  ASSERT_FALSE(s.ok());
  expect_contains(s.message, "header length field says 1099511627776 bytes");
  f[7] = (char)0xFF;  // > 2^63: no overflow into a small number
  ASSERT_FALSE(parse(f).ok());
  f = good;
  const uint64_t past = good.size();  // header would end past the file
  for (int i = 0; i < 8; ++i) f[i] = (char)((past >> (8 * i)) & 0xFF);
  s = parse(f);
  ASSERT_FALSE(s.ok());
  expect_contains(s.message, "truncated");
  s = parse(good.substr(0, 5));
  ASSERT_FALSE(s.ok());
  expect_contains(s.message, "5 bytes long");
}

// ---------------------------------------------------------------- checkpoints

// A trainer 15 steps in (one epoch of 13 done, with a recorded test result).
std::unique_ptr<wt::Trainer> trained(const Fixture& fx) {
  auto t = std::make_unique<wt::Trainer>(config(5));
  fx.give_data(*t);
  train(*t, 13);
  t->record_epoch_eval(1.25f, 0.5f);
  train(*t, 2);
  return t;
}

std::string load_error(wt::Trainer& t, const std::string& f) {
  return t.load_checkpoint((const uint8_t*)f.data(), f.size()).message;
}

// Parses a checkpoint, lets `edit` change tensors and metadata, writes it again
// (with a valid checksum).
std::string rewrite(const std::string& file,
                    const std::function<void(std::vector<wt::TensorData>&,
                                             std::map<std::string, std::string>&)>& edit) {
  wt::SafetensorsView v;
  const wt::Status s = parse(file, &v);
  EXPECT_TRUE(s.ok()) << s.message;
  std::vector<wt::TensorData> ts;
  for (const wt::TensorInfo& t : v.tensors)
    ts.push_back({t.name, t.dtype, t.shape, v.data + t.begin, t.end - t.begin});
  std::map<std::string, std::string> md = v.metadata;
  edit(ts, md);
  return wt::write_safetensors(ts, md);
}

TEST(Checkpoint, SaveLoadRestoresEverythingExactly) {
  Fixture fx;
  auto a = trained(fx);
  ASSERT_EQ(a->state().step, 15u);
  ASSERT_EQ(a->state().epoch, 1u);
  ASSERT_EQ(a->state().epoch_step, 2u);
  const std::string file = a->save_checkpoint();

  wt::SafetensorsView v;
  ASSERT_TRUE(parse(file, &v).ok());
  EXPECT_EQ(v.metadata["format"], "wasm-trainer-checkpoint");
  EXPECT_EQ(v.metadata["format_version"], "2");
  EXPECT_EQ(v.metadata["step"], "15");
  EXPECT_EQ(v.metadata["epoch"], "1");
  EXPECT_EQ(v.metadata["epoch_step"], "2");
  EXPECT_EQ(v.metadata["batch_size"], "16");
  EXPECT_EQ(v.metadata["learning_rate"], "0.002");
  EXPECT_EQ(v.metadata["model"], "seed");
  EXPECT_EQ(v.metadata["spec"], a->spec().canonical);
  EXPECT_EQ(v.tensors.size(), 6u * 3 + 5);
  ASSERT_NE(v.find("fc1.weight"), nullptr);
  EXPECT_EQ(v.find("fc1.weight")->shape, (std::vector<int64_t>{10, 784}));

  // Into a fresh trainer with another config, with and without data loaded.
  for (bool with_data : {true, false}) {
    wt::TrainerConfig other = config(99);
    other.batch_size = 32;
    other.learning_rate = 0.5;
    wt::Trainer b(other);
    if (with_data) fx.give_data(b);
    const wt::Status s = b.load_checkpoint((const uint8_t*)file.data(), file.size());
    ASSERT_TRUE(s.ok()) << s.message;
    expect_same_state(a->state(), b.state(), with_data ? "loaded with data" : "loaded without data");
    EXPECT_EQ(b.state().epoch_test_loss[0], 1.25f);
  }
}

TEST(Checkpoint, EveryFlippedByteRefused) {
  Fixture fx;
  auto a = trained(fx);
  const std::string file = a->save_checkpoint();
  wt::Trainer b(config(7));
  fx.give_data(b);
  train(b, 3);
  const wt::TrainState before = b.state();
  int tried = 0;
  for (size_t i = 0; i < file.size(); i += 97) {
    for (uint8_t mask : {(uint8_t)0x01, (uint8_t)0x80}) {
      std::string f = file;
      f[i] = (char)(f[i] ^ mask);
      const std::string msg = load_error(b, f);
      ++tried;
      ASSERT_FALSE(msg.empty()) << "byte " << i << " of " << file.size() << " flipped (^" << (int)mask
                                << ") was accepted";
      ASSERT_EQ(msg.rfind("refused checkpoint: ", 0), 0u) << msg;
    }
  }
  EXPECT_GT(tried, 2000);
  expect_same_state(before, b.state(), "after refused loads");
  // A flipped data byte is reported as a checksum mismatch.
  std::string f = file;
  f[f.size() - 100] ^= 0x10;
  expect_contains(load_error(b, f), "checksum mismatch");
}

TEST(Checkpoint, TruncatedRefused) {
  Fixture fx;
  auto a = trained(fx);
  const std::string file = a->save_checkpoint();
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = hlen << 8 | (uint8_t)file[i];
  wt::Trainer b(config(7));
  const wt::TrainState before = b.state();
  for (size_t n : {(size_t)0, (size_t)1, (size_t)7, (size_t)8, (size_t)9, (size_t)(8 + hlen / 2),
                   (size_t)(8 + hlen - 1), (size_t)(8 + hlen), (size_t)(8 + hlen + 1),
                   file.size() / 2, file.size() - 4, file.size() - 1}) {
    const std::string msg = load_error(b, file.substr(0, n));
    ASSERT_FALSE(msg.empty()) << "truncated to " << n << " of " << file.size() << " accepted";
    if (n >= 8 + hlen) expect_contains(msg, "truncated");
  }
  expect_contains(load_error(b, file.substr(0, 4)), "too short");
  expect_same_state(before, b.state(), "after truncated loads");
}

TEST(Checkpoint, AppendedGarbageRefused) {
  Fixture fx;
  auto a = trained(fx);
  const std::string file = a->save_checkpoint();
  wt::Trainer b(config(7));
  for (const std::string& tail : {std::string(1, '\0'), std::string(8, 'x'), std::string(4096, '\xff')}) {
    const std::string msg = load_error(b, file + tail);
    ASSERT_FALSE(msg.empty()) << tail.size() << " appended bytes accepted";
    expect_contains(msg, std::to_string(tail.size()) + " unexpected bytes follow the last tensor");
  }
}

TEST(Checkpoint, HugeHeaderLengthRefused) {
  Fixture fx;
  auto a = trained(fx);
  std::string f = a->save_checkpoint();
  for (int i = 0; i < 8; ++i) f[i] = (char)0x7F;
  wt::Trainer b(config(7));
  const std::string msg = load_error(b, f);
  ASSERT_FALSE(msg.empty());
  expect_contains(msg, "header length field says");
}

// Damage that keeps a valid checksum: edited JSON, data moved around.
TEST(Checkpoint, OverlapAndGapRefusedEvenWithValidChecksum) {
  Fixture fx;
  auto a = trained(fx);
  const std::string file = a->save_checkpoint();
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = hlen << 8 | (uint8_t)file[i];
  json h = json::parse(file.substr(8, hlen));
  const std::string data = file.substr(8 + hlen);
  wt::Trainer b(config(7));
  const wt::TrainState before = b.state();
  auto header_str = [](json j) {
    j["__metadata__"]["checksum"] = "crc32:00000000";
    return j.dump();
  };
  ASSERT_TRUE(b.load_checkpoint((const uint8_t*)raw_file(header_str(h), data).data(),
                                raw_file(header_str(h), data).size())
                  .ok())
      << "the rebuilt, undamaged file must load (test premise)";
  b = wt::Trainer(config(7));
  {  // exp_avg_sq of conv1.weight stored at the same bytes as its exp_avg
    json e = h;
    e["optimizer.conv1.weight.exp_avg_sq"]["data_offsets"] = e["optimizer.conv1.weight.exp_avg"]["data_offsets"];
    const std::string msg = load_error(b, raw_file(header_str(e), data));
    ASSERT_FALSE(msg.empty());
    expect_contains(msg, "overlaps");
  }
  {  // 4 bytes inserted before the last tensor, its offsets shifted: a gap
    json e = h;
    std::string last;
    uint64_t last_begin = 0;
    for (auto it = e.begin(); it != e.end(); ++it)
      if (it.key() != "__metadata__" && it.value()["data_offsets"][0].get<uint64_t>() >= last_begin)
        last = it.key(), last_begin = it.value()["data_offsets"][0].get<uint64_t>();
    const uint64_t end = e[last]["data_offsets"][1].get<uint64_t>();
    e[last]["data_offsets"] = {last_begin + 4, end + 4};
    const std::string d = data.substr(0, last_begin) + "GAP!" + data.substr(last_begin);
    const std::string msg = load_error(b, raw_file(header_str(e), d));
    ASSERT_FALSE(msg.empty());
    expect_contains(msg, "gap of 4 bytes before tensor \"" + last + "\"");
  }
  expect_same_state(before, b.state(), "after overlap/gap loads");
}

TEST(Checkpoint, OtherArchitectureRefusedNamingShapes) {
  Fixture fx;
  auto a = trained(fx);
  const std::string file = a->save_checkpoint();
  wt::Trainer b(config(7));
  const std::vector<float> small(4 * 9, 0.1f);
  std::string f = rewrite(file, [&](std::vector<wt::TensorData>& ts, std::map<std::string, std::string>&) {
    for (wt::TensorData& t : ts)
      if (t.name == "conv1.weight") t.shape = {4, 1, 3, 3}, t.data = small.data(), t.nbytes = 36 * 4;
  });
  std::string msg = load_error(b, f);
  ASSERT_FALSE(msg.empty());
  expect_contains(msg, "another architecture");
  expect_contains(msg, "\"conv1.weight\" has shape [4,1,3,3]");
  expect_contains(msg, "expects [8,1,3,3]");
  // Same number of elements, other layout.
  f = rewrite(file, [&](std::vector<wt::TensorData>& ts, std::map<std::string, std::string>&) {
    for (wt::TensorData& t : ts)
      if (t.name == "optimizer.conv2.weight.exp_avg") t.shape = {8, 16, 3, 3};
  });
  msg = load_error(b, f);
  expect_contains(msg, "has shape [8,16,3,3]");
  expect_contains(msg, "expects [16,8,3,3]");
  // An extra tensor of some other model.
  const float extra[2] = {1, 2};
  f = rewrite(file, [&](std::vector<wt::TensorData>& ts, std::map<std::string, std::string>&) {
    ts.push_back({"fc2.weight", "F32", {2}, extra, 8});
  });
  expect_contains(load_error(b, f), "unexpected tensor \"fc2.weight\"");
  // A missing one.
  f = rewrite(file, [&](std::vector<wt::TensorData>& ts, std::map<std::string, std::string>&) {
    for (size_t i = 0; i < ts.size(); ++i)
      if (ts[i].name == "fc1.bias") ts.erase(ts.begin() + i);
  });
  expect_contains(load_error(b, f), "tensor \"fc1.bias\" is missing");
  // Wrong dtype.
  f = rewrite(file, [&](std::vector<wt::TensorData>& ts, std::map<std::string, std::string>&) {
    for (wt::TensorData& t : ts)
      if (t.name == "fc1.bias") t.dtype = "I32";
  });
  expect_contains(load_error(b, f), "dtype I32, expected F32");
}

TEST(Checkpoint, NewerFormatVersionRefusedNamingBoth) {
  Fixture fx;
  auto a = trained(fx);
  const std::string file = a->save_checkpoint();
  wt::Trainer b(config(7));
  const std::string f = rewrite(file, [](std::vector<wt::TensorData>&, std::map<std::string, std::string>& md) {
    md["format_version"] = "3";
  });
  const std::string msg = load_error(b, f);
  ASSERT_FALSE(msg.empty());
  expect_contains(msg, "format version 3");
  expect_contains(msg, "up to version 2");
  const std::string g = rewrite(file, [](std::vector<wt::TensorData>&, std::map<std::string, std::string>& md) {
    md["format"] = "something-else";
  });
  expect_contains(load_error(b, g), "not a wasm-trainer checkpoint");
}

TEST(Checkpoint, InconsistentMetadataRefused) {
  Fixture fx;
  auto a = trained(fx);
  const std::string file = a->save_checkpoint();
  wt::Trainer b(config(7));
  fx.give_data(b);
  auto with = [&](const char* key, const char* value) {
    return load_error(b, rewrite(file, [&](std::vector<wt::TensorData>&, std::map<std::string, std::string>& md) {
                        md[key] = value;
                      }));
  };
  expect_contains(with("step", "14"), "history.step_loss has 15 entries but step is 14");
  expect_contains(with("epoch_step", "13"), "epoch_step 13 is past the end of an epoch of 13 steps");
  expect_contains(with("batch_size", "0"), "batch_size is 0");
  expect_contains(with("beta1", "1.5"), "beta1");
  expect_contains(with("eps", "nan"), "eps");
  expect_contains(with("step", "-1"), "step");
  expect_contains(with("train_fingerprint", "crc32:00000000"), "different data");
  expect_contains(with("train_count", "199"), "trained on 199 images");
  // A negative second moment is impossible.
  const float neg[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  expect_contains(load_error(b, rewrite(file, [&](std::vector<wt::TensorData>& ts, std::map<std::string, std::string>&) {
                    for (wt::TensorData& t : ts)
                      if (t.name == "optimizer.conv1.bias.exp_avg_sq") t.data = neg;
                  })),
                  "negative value");
}

// A refused load changes nothing: same state, and training afterwards is bit
// identical to a twin that never saw the bad files.
TEST(Checkpoint, RefusedLoadLeavesTrainerUnchanged) {
  Fixture fx;
  auto a = trained(fx);
  const std::string file = a->save_checkpoint();
  wt::Trainer b(config(7)), twin(config(7));
  fx.give_data(b);
  fx.give_data(twin);
  train(b, 4);
  train(twin, 4);
  const wt::TrainState before = b.state();
  const std::string bad_version = rewrite(file, [](std::vector<wt::TensorData>&, std::map<std::string, std::string>& md) {
    md["format_version"] = "3";
  });
  const std::vector<float> small(4 * 9, 0.1f);
  const std::string bad_shape = rewrite(file, [&](std::vector<wt::TensorData>& ts, std::map<std::string, std::string>&) {
    for (wt::TensorData& t : ts)
      if (t.name == "fc1.bias") t.shape = {1, 10};
  });
  // Fails late: after every tensor was copied into the new state.
  const std::string bad_history = rewrite(file, [](std::vector<wt::TensorData>&, std::map<std::string, std::string>& md) {
    md["epoch"] = "2";
  });
  const std::string bad_batch = rewrite(file, [](std::vector<wt::TensorData>&, std::map<std::string, std::string>& md) {
    md["batch_size"] = "64";  // would resize buffers if it got through
    md["epoch_step"] = "5";
    md["train_fingerprint"] = "crc32:12345678";
  });
  std::string flipped = file;
  flipped[flipped.size() / 2] ^= 1;
  for (const std::string* f : std::vector<const std::string*>{&bad_version, &bad_shape, &bad_history, &bad_batch, &flipped}) {
    ASSERT_FALSE(load_error(b, *f).empty());
    expect_same_state(before, b.state(), "after a refused load");
  }
  // Saved bytes equal but for the "created" time (and so the checksum).
  auto strip = [](std::string f) {
    wt::SafetensorsView v;
    EXPECT_TRUE(parse(f, &v).ok());
    return rewrite(f, [](std::vector<wt::TensorData>&, std::map<std::string, std::string>& md) {
      md["created"] = "-";
    });
  };
  EXPECT_EQ(strip(b.save_checkpoint()), strip(twin.save_checkpoint()));
  train(b, 5);
  train(twin, 5);
  expect_same_state(twin.state(), b.state(), "training after refused loads");
}

}  // namespace
