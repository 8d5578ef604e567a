#include "core/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "core/layers.h"
#include "core/parallel.h"
#include "core/rng.h"

namespace wt {

LayerProfile* g_profile = nullptr;
void set_layer_profile(LayerProfile* p) { g_profile = p; }
void LayerProfile::add(const char* name, double s) {
  static std::mutex mu;  // workers of a batch may report at once
  std::lock_guard<std::mutex> lock(mu);
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) {
      seconds[i] += s;
      return;
    }
  names.emplace_back(name);
  seconds.push_back(s);
}

namespace {
// Index of the largest of v[0..n) (the first one on ties).
int argmax(const float* v, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}
}  // namespace

Network::Network(const NetSpec& spec) : spec_(spec), ops_(make_plan(spec)) {
  regions_.resize(ops_.size() + 1);
  regions_[0].size = spec_.input.numel();
  act_per_image_ = regions_[0].size;
  saved_off_.resize(ops_.size());
  saved_i_off_.resize(ops_.size());
  prepared_off_.resize(ops_.size());
  bn_.resize(ops_.size());
  bool params_before = false;
  for (size_t k = 0; k < ops_.size(); ++k) {
    const Op& op = *ops_[k];
    Region& r = regions_[k + 1];
    r.size = op.out.numel();
    for (int j = op.first_layer; j <= op.last_layer; ++j) params_before |= spec_.layers[j].has_params();
    if (op.aliases_input()) {
      r.act = regions_[k].act, r.grad = regions_[k].grad, r.has_grad = regions_[k].has_grad;
    } else {
      r.act = act_per_image_, act_per_image_ += r.size;
      // A gradient is needed where some parameter lies upstream.
      r.has_grad = params_before;
      if (r.has_grad) r.grad = grad_per_image_, grad_per_image_ += r.size;
    }
    saved_off_[k] = saved_per_image_, saved_per_image_ += op.saved_floats();
    saved_i_off_[k] = saved_i_per_image_, saved_i_per_image_ += op.saved_ints();
    prepared_off_[k] = prepared_.size(), prepared_.resize(prepared_.size() + op.prepared_floats());
    if (op.batch_stats()) {
      auto& bop = static_cast<BatchNormOp&>(*ops_[k]);
      bop.index = (int)k;
      bn_ops_.push_back((int)k);
      const int C = bop.channels();
      bn_[k].mean.assign(C, 0.f), bn_[k].invstd.assign(C, 1.f);
      bn_[k].sum_dy.assign(C, 0.0), bn_[k].sum_dy_xhat.assign(C, 0.0);
    }
  }
  for (const ParamSpec& p : spec_.params)
    if (p.shape.size() == 1 && bias_cancelled_by_batchnorm(spec_, p.layer))
      zero_grad_.push_back({p.offset, p.size});
}

std::string Network::describe() const {
  std::string r;
  for (const auto& op : ops_) r += op->label + ": " + op->in.str() + " -> " + op->out.str() + "\n";
  return r;
}

void Network::reserve(Workspace& ws, int cap) const {
  ws.cap = cap;
  size_t scratch = 0;
  for (const auto& op : ops_) scratch = std::max(scratch, op->scratch_floats(op->per_image() ? std::min(kGroup, cap) : cap));
  ws.act.assign((size_t)cap * act_per_image_, 0.f);
  ws.grad.assign((size_t)cap * grad_per_image_, 0.f);
  ws.saved.assign((size_t)cap * saved_per_image_, 0.f);  // zero: padded borders stay zero
  ws.saved_i.assign((size_t)cap * saved_i_per_image_, 0);
  ws.scratch.assign(scratch, 0.f);
  ws.probs.assign((size_t)cap * spec_.classes, 0.f);
  ws.labels.assign(cap, 0);
  for (int k : bn_ops_) bn_[k].part.reserve((size_t)chunks(std::max(cap, 1024)) * 2 * ops_[k]->in.c);
}

OpIO Network::io(const Workspace& ws, int k, int n0) const {
  const Region &in = regions_[k], &out = regions_[k + 1];
  const Op& op = *ops_[k];
  const size_t cap = (size_t)ws.cap;
  Workspace& w = const_cast<Workspace&>(ws);
  OpIO o;
  o.x = w.act.data() + cap * in.act + n0 * in.size;
  o.y = w.act.data() + cap * out.act + n0 * out.size;
  o.saved = w.saved.data() + cap * saved_off_[k] + n0 * op.saved_floats();
  o.saved_i = w.saved_i.data() + cap * saved_i_off_[k] + n0 * op.saved_ints();
  o.scratch = w.scratch.data();
  o.prepared = prepared_.data() + prepared_off_[k];
  o.dy = out.has_grad ? w.grad.data() + cap * out.grad + n0 * out.size : nullptr;
  o.dx = in.has_grad ? w.grad.data() + cap * in.grad + n0 * in.size : nullptr;
  return o;
}

void Network::forward(const OpContext& c, Workspace& ws, int n, int a, int b) const {
  for (int k = a; k < b;) {
    if (!ops_[k]->per_image()) {
      ProfileScope t(ops_[k]->fwd_label.c_str());
      ops_[k]->forward(c, io(ws, k, 0), n);
      ++k;
      continue;
    }
    int e = k;
    while (e < b && ops_[e]->per_image()) ++e;
    for (int n0 = 0; n0 < n; n0 += kGroup) {
      const int G = std::min(kGroup, n - n0);
      OpContext cg = c;
      cg.position += n0;
      for (int j = k; j < e; ++j) {
        ProfileScope t(ops_[j]->fwd_label.c_str());
        ops_[j]->forward(cg, io(ws, j, n0), G);
      }
    }
    k = e;
  }
}

void Network::backward(const OpContext& c, Workspace& ws, int n, int a, int b) const {
  for (int k = b - 1; k >= a;) {
    if (!ops_[k]->per_image()) {
      if (regions_[k + 1].has_grad) {
        ProfileScope t(ops_[k]->bwd_label.c_str());
        ops_[k]->backward(c, io(ws, k, 0), n);
      }
      --k;
      continue;
    }
    int s = k;
    while (s > a && ops_[s - 1]->per_image()) --s;
    for (int n0 = 0; n0 < n; n0 += kGroup) {
      const int G = std::min(kGroup, n - n0);
      OpContext cg = c;
      cg.position += n0;
      for (int j = k; j >= s; --j) {
        if (!regions_[j + 1].has_grad) continue;
        ProfileScope t(ops_[j]->bwd_label.c_str());
        ops_[j]->backward(cg, io(ws, j, n0), G);
      }
    }
    k = s - 1;
  }
}

void Network::chunk_loss(Workspace& ws, int n, float scale, bool bwd, double* loss, int* correct) const {
  ProfileScope t("softmax xent");
  const Region& r = regions_.back();
  const int V = spec_.classes;
  const float* logits = ws.act.data() + (size_t)ws.cap * r.act;
  *loss = softmax_xent_forward(ws.probs.data(), logits, ws.labels.data(), n, V);
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += argmax(logits + (size_t)i * V, V) == ws.labels[i];
  *correct = ok;
  if (bwd && r.has_grad)
    softmax_xent_backward(ws.grad.data() + (size_t)ws.cap * r.grad, ws.probs.data(), ws.labels.data(), n, V, scale);
}

int Network::workspaces_needed(int images, int threads, bool train) const {
  return train && !bn_ops_.empty() ? chunks(images) : threads;
}

namespace {
// Everything a chunk task needs, behind one pointer: the task's std::function then
// keeps it inline (no heap allocation in a training step).
struct Run {
  const Network* net;
  const BatchJob* job;
  std::vector<Workspace>* ws;
  OpContext base;
  bool phased;
  int stage;  // phase boundary being run (phased batches)
  int (*start)(const Run&, int c, Workspace& w, OpContext* cc);
  void (*finish)(const Run&, int c, Workspace& w, const OpContext& cc, int n, int from);
};
}  // namespace

void Network::run_batch(const BatchJob& job, std::vector<Workspace>& ws, int threads,
                        const float* params, float* running) const {
  const int nch = chunks(job.images);
  const bool phased = job.train && !bn_ops_.empty();
  Run run{this, &job, &ws, OpContext{}, phased, 0, nullptr, nullptr};
  run.base.params = params;
  run.base.buffers = running;
  run.base.train = job.train;
  run.base.seed = job.seed;
  run.base.step = job.step;
  run.base.bn = bn_.data();
  const Run* rp = &run;
  {
    ProfileScope t("prepare (Winograd weights)");
    for (size_t k = 0; k < ops_.size(); ++k)
      if (ops_[k]->prepared_floats()) ops_[k]->prepare(params, prepared_.data() + prepared_off_[k]);
  }

  // The chunk's images into its workspace, then its context.
  run.start = [](const Run& r, int c, Workspace& w, OpContext* cc) {
    const int n = std::min(kChunk, r.job->images - c * kChunk);
    *cc = r.base;
    cc->grads = r.job->grads ? r.job->grads[c] : nullptr;
    cc->position = c * kChunk;
    r.job->load(r.job->user, c * kChunk, n, w.act.data(), w.labels.data());
    return n;
  };
  run.finish = [](const Run& r, int c, Workspace& w, const OpContext& cc, int n, int from) {
    r.net->chunk_loss(w, n, r.job->scale, r.job->backward, &r.job->loss[c], &r.job->correct[c]);
    if (r.job->logits) {
      const int V = r.net->spec_.classes;
      std::memcpy(r.job->logits + (size_t)c * kChunk * V,
                  w.act.data() + (size_t)w.cap * r.net->regions_.back().act, sizeof(float) * n * V);
    }
    if (r.job->backward) r.net->backward(cc, w, n, from, (int)r.net->ops_.size());
  };

  if (!phased) {
    ThreadPool::shared().run(threads, nch, [rp](int c, int worker) {
      Workspace& w = (*rp->ws)[worker];
      OpContext cc;
      const int n = rp->start(*rp, c, w, &cc);
      rp->net->forward(cc, w, n, 0, (int)rp->net->ops_.size());
      rp->finish(*rp, c, w, cc, n, 0);
    });
    return;
  }

  // Phased: forward up to each BatchNorm, reduce its statistics, go on.
  const int K = (int)bn_ops_.size();
  for (int k : bn_ops_) {
    BatchNormBatch& b = bn_[k];
    b.part.resize((size_t)nch * 2 * ops_[k]->in.c);
    b.count = job.images * ops_[k]->in.h * ops_[k]->in.w;
  }
  for (int phase = 0; phase <= K; ++phase) {
    run.stage = phase;
    ThreadPool::shared().run(threads, nch, [rp](int c, int) {
      const Run& r = *rp;
      const Network& net = *r.net;
      Workspace& w = (*r.ws)[c];
      OpContext cc;
      int n;
      if (r.stage == 0) {
        n = r.start(r, c, w, &cc);
      } else {
        n = std::min(kChunk, r.job->images - c * kChunk);
        cc = r.base;
        cc.grads = r.job->grads ? r.job->grads[c] : nullptr;
        cc.position = c * kChunk;
      }
      const int K = (int)net.bn_ops_.size();
      const int a = r.stage == 0 ? 0 : net.bn_ops_[r.stage - 1];
      const int b = r.stage < K ? net.bn_ops_[r.stage] : (int)net.ops_.size();
      net.forward(cc, w, n, a, b);
      if (r.stage < K) {
        const auto& bop = static_cast<const BatchNormOp&>(*net.ops_[b]);
        BatchNormBatch& bb = net.bn_[b];
        ProfileScope t(net.ops_[b]->fwd_label.c_str());  // the batch statistics are the op's
        bop.partial_stats(cc, net.io(w, b, 0).x, n, bb.part.data() + (size_t)c * 2 * bop.channels());
        return;
      }
      // Last phase: the loss, and the backward down to the last BatchNorm.
      r.finish(r, c, w, cc, n, net.bn_ops_[K - 1] + 1);
      if (r.job->backward && net.regions_[net.bn_ops_[K - 1] + 1].has_grad) {
        const int bk = net.bn_ops_[K - 1];
        const auto& bop = static_cast<const BatchNormOp&>(*net.ops_[bk]);
        ProfileScope t(net.ops_[bk]->bwd_label.c_str());
        bop.partial_grad(cc, net.io(w, bk, 0), n, net.bn_[bk].part.data() + (size_t)c * 2 * bop.channels());
      }
    });
    if (phase < K) {
      // Reduce the chunks' sums in chunk order: the same numbers for any threads.
      const int k = bn_ops_[phase];
      const auto& bop = static_cast<const BatchNormOp&>(*ops_[k]);
      BatchNormBatch& b = bn_[k];
      const int C2 = 2 * bop.channels();
      for (int c = 1; c < nch; ++c)
        for (int j = 0; j < C2; ++j) b.part[j] += b.part[(size_t)c * C2 + j];
      if (job.train && running) bop.finish_stats(b, b.part.data(), running);
    }
  }
  if (!job.backward) return;
  // Backward from each BatchNorm (last first) down to the previous one.
  for (int phase = K - 1; phase >= 0; --phase) {
    const int k = bn_ops_[phase];
    if (!regions_[k + 1].has_grad) break;
    const auto& bop = static_cast<const BatchNormOp&>(*ops_[k]);
    BatchNormBatch& b = bn_[k];
    const int C2 = 2 * bop.channels();
    for (int c = 1; c < nch; ++c)
      for (int j = 0; j < C2; ++j) b.part[j] += b.part[(size_t)c * C2 + j];
    bop.finish_grad(b, b.part.data(), job.grads[0]);  // its parameters' batch totals, once
    run.stage = phase;
    ThreadPool::shared().run(threads, nch, [rp](int c, int) {
      const Run& r = *rp;
      const Network& net = *r.net;
      Workspace& w = (*r.ws)[c];
      const int n = std::min(kChunk, r.job->images - c * kChunk);
      OpContext cc = r.base;
      cc.grads = r.job->grads[c];
      cc.position = c * kChunk;
      const int hi = net.bn_ops_[r.stage] + 1;
      const int lo = r.stage > 0 ? net.bn_ops_[r.stage - 1] + 1 : 0;
      net.backward(cc, w, n, lo, hi);
      if (r.stage > 0 && net.regions_[lo].has_grad) {
        const int bk = lo - 1;
        const auto& bop = static_cast<const BatchNormOp&>(*net.ops_[bk]);
        ProfileScope t(net.ops_[bk]->bwd_label.c_str());
        bop.partial_grad(cc, net.io(w, bk, 0), n, net.bn_[bk].part.data() + (size_t)c * 2 * bop.channels());
      }
    });
  }
}

void Network::init(float* params, float* buffers, uint64_t seed) const {
  SplitMix64 rng(stream_seed(seed, kStreamInit, 0));
  for (const ParamSpec& p : spec_.params) {
    float* v = params + p.offset;
    if (p.init == Init::Ones) std::fill(v, v + p.size, 1.f);
    if (p.init == Init::Zeros) std::fill(v, v + p.size, 0.f);
    if (p.init != Init::Uniform) continue;
    const float bound = 1.f / std::sqrt((float)p.fan_in);
    for (size_t i = 0; i < p.size; ++i) v[i] = (2.f * rng.uniform01() - 1.f) * bound;
  }
  for (const BufferSpec& b : spec_.buffers) std::fill(buffers + b.offset, buffers + b.offset + b.size, b.init);
}

}  // namespace wt
