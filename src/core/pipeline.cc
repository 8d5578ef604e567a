#include "core/pipeline.h"

#include <array>
#include <cstring>

#include <xtensor/xadapt.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xview.hpp>

#include "core/rng.h"

namespace wt {

Pipeline::Pipeline(const Shape& shape, const DataConfig& c)
    : C_(shape.c), H_(shape.h), W_(shape.w), crop_(c.crop_padding), flip_(c.hflip),
      normalize_(!c.mean.empty()), mean_(c.mean), std_(c.std) {}

Pipeline::Draw Pipeline::draw(uint64_t seed, uint64_t epoch, uint64_t index) const {
  SplitMix64 rng(stream_seed(stream_seed(seed, kStreamAugment, epoch), index, 0));
  Draw d;
  // torchvision's order: the crop's offsets (rows, then columns), then the flip.
  if (crop_ > 0) d.dy = (int)rng.below(2 * crop_ + 1), d.dx = (int)rng.below(2 * crop_ + 1);
  if (flip_) d.flip = rng.uniform01() < 0.5f;
  return d;
}

void Pipeline::image(const uint8_t* src, float* out, uint64_t seed, uint64_t epoch, uint64_t index,
                     bool train) const {
  using xt::all;
  using xt::range;
  const std::array<size_t, 3> shape{(size_t)C_, (size_t)H_, (size_t)W_};
  auto x = xt::adapt(src, (size_t)C_ * H_ * W_, xt::no_ownership(), shape);
  auto y = xt::adapt(out, (size_t)C_ * H_ * W_, xt::no_ownership(), shape);
  const Draw d = train ? draw(seed, epoch, index) : Draw{crop_, crop_, false};
  // The crop of the zero-padded image at (dy, dx): output rows [oy0, oy1) come from
  // input rows [oy0 + dy - p, ...); everything else is padding (0).
  const int sy = d.dy - crop_, sx = d.dx - crop_;
  const int oy0 = std::max(0, -sy), oy1 = std::min(H_, H_ - sy);
  const int ox0 = std::max(0, -sx), ox1 = std::min(W_, W_ - sx);
  if (oy0 > 0 || oy1 < H_ || ox0 > 0 || ox1 < W_) std::memset(out, 0, sizeof(float) * C_ * H_ * W_);
  if (oy1 > oy0 && ox1 > ox0) {
    auto window = xt::view(x, all(), range(oy0 + sy, oy1 + sy), range(ox0 + sx, ox1 + sx));
    if (d.flip)  // the flipped crop: output column x is the crop's column W - 1 - x
      xt::noalias(xt::view(y, all(), range(oy0, oy1), range(W_ - ox1, W_ - ox0))) = xt::cast<float>(xt::flip(window, 2)) / 255.f;
    else
      xt::noalias(xt::view(y, all(), range(oy0, oy1), range(ox0, ox1))) = xt::cast<float>(window) / 255.f;
  }
  if (normalize_) normalize(out, 1);
}

void Pipeline::normalize(float* x, size_t n) const {
  if (!normalize_) return;
  const std::array<size_t, 4> shape{n, (size_t)C_, (size_t)H_, (size_t)W_};
  const std::array<size_t, 3> cshape{(size_t)C_, 1, 1};
  auto t = xt::adapt(x, n * C_ * H_ * W_, xt::no_ownership(), shape);
  const auto mean = xt::adapt(mean_.data(), (size_t)C_, xt::no_ownership(), cshape);
  const auto sd = xt::adapt(std_.data(), (size_t)C_, xt::no_ownership(), cshape);
  // noalias: element-wise in place, so no temporary (nothing is allocated per batch).
  xt::noalias(t) = (t - mean) / sd;  // PyTorch's Normalize: sub_(mean).div_(std), in float
}

}  // namespace wt
