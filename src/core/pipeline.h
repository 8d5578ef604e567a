// The batch pipeline: a dataset's uint8 image -> the float tensor the network sees,
// as torchvision's Compose([RandomCrop(size, padding=p), RandomHorizontalFlip(),
// ToTensor(), Normalize(mean, std)]) computes it: the crop pads the bytes with zeros,
// ToTensor divides by 255, Normalize computes (x - mean[c]) / std[c] in float.
//
// Augmentation is drawn from (seed, epoch, the image's index in the dataset) only
// (rng.h, kStreamAugment), so a resumed run and any thread count see the same
// batches. Evaluation never augments. Built on xtensor views over the caller's
// buffers: nothing is allocated per image.
#pragma once
#include <cstdint>
#include <vector>

#include "core/dataset.h"
#include "core/spec.h"

namespace wt {

class Pipeline {
 public:
  Pipeline() = default;
  Pipeline(const Shape& shape, const DataConfig& config);
  // ToTensor only (MNIST's default): the caller may take the plain u8 -> f32 path.
  bool identity() const { return !normalize_ && crop_ == 0 && !flip_; }
  // out[C, H, W] for image `index` of the dataset; train: with augmentation.
  void image(const uint8_t* src, float* out, uint64_t seed, uint64_t epoch, uint64_t index, bool train) const;
  // Normalize only, in place (for images already scaled to [0, 1]: predictions).
  void normalize(float* x, size_t n_images) const;
  // The crop offsets and flip that image `index` of `epoch` gets (tests, and PyTorch's side).
  struct Draw {
    int dy = 0, dx = 0;  // crop offset into the padded image, 0..2p
    bool flip = false;
  };
  Draw draw(uint64_t seed, uint64_t epoch, uint64_t index) const;

 private:
  int C_ = 0, H_ = 0, W_ = 0, crop_ = 0;
  bool flip_ = false, normalize_ = false;
  std::vector<float> mean_, std_;  // per channel
};

}  // namespace wt
