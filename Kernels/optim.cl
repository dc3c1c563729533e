// Fused optimiser updates, one work-item per parameter, torch.optim semantics.

// Adam (Kingma & Ba 2015) as torch.optim.Adam (L2 weight decay added to the gradient):
//   g += wd * p;  m += (1 - b1) * (g - m);  v = b2 * v + (1 - b2) * g^2
//   p -= step_size * m / (sqrt(v) / bc2_sqrt + eps)
// step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t), 1 - b1 and 1 - b2 come from the
// host, computed in double as PyTorch does.
__kernel void adam_step(__global float* p, __global const float* grad, __global float* m,
                        __global float* v, const float step_size, const float bc2_sqrt,
                        const float one_minus_beta1, const float beta2,
                        const float one_minus_beta2, const float eps, const float weight_decay,
                        const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float g = grad[i] + weight_decay * p[i];
  const float mi = m[i] + one_minus_beta1 * (g - m[i]);
  const float vi = beta2 * v[i] + one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  p[i] -= step_size * mi / (sqrt(vi) / bc2_sqrt + eps);
}

// SGD as torch.optim.SGD (dampening 0): d = g + wd*p; buf = momentum*buf + d; p -= lr*buf.
// buf may be NULL when momentum is 0.
__kernel void sgd_step(__global float* p, __global const float* grad, __global float* buf,
                       const float lr, const float momentum, const float weight_decay,
                       const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  float d = grad[i] + weight_decay * p[i];
  if (buf && momentum != 0.0f) {
    d = momentum * buf[i] + d;
    buf[i] = d;
  }
  p[i] -= lr * d;
}

// RMSprop as torch.optim.RMSprop (eps outside the square root), state zeros before step 1:
//   g = grad + wd*p;  v = alpha*v + (1 - alpha)*g^2
//   centred: gavg += (1 - alpha)*(g - gavg); denom = sqrt(v - gavg^2) + eps; else sqrt(v) + eps
//   momentum > 0: buf = momentum*buf + g/denom; p -= lr*buf;  else p -= lr*g/denom
// buf is NULL unless momentum > 0, gavg NULL unless centred; 1 - alpha comes from the host
// (formed in double, as PyTorch does).
__kernel void rmsprop_step(__global float* p, __global const float* grad, __global float* square_avg,
                           __global float* buf, __global float* grad_avg, const float lr,
                           const float alpha, const float one_minus_alpha, const float eps,
                           const float weight_decay, const float momentum, const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float g = grad[i] + weight_decay * p[i];
  const float v = alpha * square_avg[i] + one_minus_alpha * g * g;
  square_avg[i] = v;
  float second = v;
  if (grad_avg) {
    const float ga = grad_avg[i] + one_minus_alpha * (g - grad_avg[i]);
    grad_avg[i] = ga;
    second = v - ga * ga;
  }
  const float denom = sqrt(second) + eps;
  if (buf) {
    const float b = momentum * buf[i] + g / denom;
    buf[i] = b;
    p[i] -= lr * b;
  } else {
    p[i] -= lr * g / denom;
  }
}

// Exponential moving average in place: ema = beta*ema + (1 - beta)*param (torch's
// ema.mul_(beta).add_(param, alpha=1 - beta)); beta == 0 copies param exactly.
__kernel void ema_update(__global float* ema, __global const float* param, const float beta,
                         const float one_minus_beta, const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  ema[i] = beta == 0.0f ? param[i] : beta * ema[i] + one_minus_beta * param[i];
}
