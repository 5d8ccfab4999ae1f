"""Named configs: the setups people learn GANs from, with their published hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ConfigError, GANConfig


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    settings: dict

    def config(self, **changes) -> GANConfig:
        return GANConfig.from_dict({**self.settings, **changes})


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("default", "Our pick: the best digits for the least CPU time (under a minute on 2 cores).",
           dict(latent_dim=64, g_layers=[256, 512], d_layers=[512, 256], leaky_slope=0.2,
                g_lr=5e-4, d_lr=5e-4, beta1=0.5, batch_size=64, loss="nonsaturating", g_ema=0.999, d_dropout=0.3)),
    Preset("numpy-tutorial", "The from-scratch NumPy GAN: one hidden layer each, He init, plain SGD with decay.",
           dict(digits=[3], latent_dim=100, g_layers=[128], d_layers=[128], g_activation="relu",
                d_activation="leaky_relu", leaky_slope=0.01, init="he", output="tanh",
                loss="nonsaturating", g_optimizer="sgd", d_optimizer="sgd", g_lr=1e-3, d_lr=1e-3,
                momentum=0.0, schedule="decay", lr_decay=1e-4, batch_size=64)),
    Preset("keras-dense", "The Keras dense GAN: G 256-512-1024 with batch norm (Keras momentum 0.8), Adam 2e-4.",
           dict(latent_dim=128, g_layers=[256, 512, 1024], d_layers=[512, 256], leaky_slope=0.2,
                g_batchnorm=True, bn_momentum=0.2, output="tanh", g_lr=2e-4, d_lr=2e-4, beta1=0.5,
                batch_size=128)),
    Preset("minimal-tf", "The minimal TensorFlow GAN: 10-d uniform latent, G 64 ReLU, sigmoid output, D 512.",
           dict(latent_dim=10, prior="uniform", g_layers=[64], d_layers=[512], g_activation="relu",
                d_activation="relu", output="sigmoid", g_lr=1e-3, d_lr=1e-3, beta1=0.9, batch_size=16)),
    Preset("minimal-tf-2d", "minimal-tf with a 2-d latent, so the whole latent space fits on one map.",
           dict(latent_dim=2, prior="uniform", g_layers=[64], d_layers=[512], g_activation="relu",
                d_activation="relu", output="sigmoid", g_lr=1e-3, d_lr=1e-3, beta1=0.9, batch_size=16)),
    Preset("pytorch-bce", "The common PyTorch BCE GAN: G 256-512-1024, D 1024-512-256 with dropout 0.3.",
           dict(latent_dim=128, g_layers=[256, 512, 1024], d_layers=[1024, 512, 256], leaky_slope=0.2,
                d_dropout=0.3, output="tanh", g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999,
                batch_size=100)),
    Preset("vanilla-smooth", "Vanilla GAN with one-sided label smoothing 0.9, Xavier init and step decay.",
           dict(latent_dim=100, g_layers=[32, 64, 128], d_layers=[1024, 512, 256], leaky_slope=0.2,
                g_dropout=0.3, d_dropout=0.3, init="xavier", label_smoothing=0.9, loss="nonsaturating",
                g_lr=1e-3, d_lr=1e-4, schedule="step", g_milestones=[20, 50, 80], g_gamma=0.5,
                d_milestones=[50], d_gamma=0.1, batch_size=128)),
]}


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError("preset", f"{name!r} is not one of {', '.join(PRESETS)}") from None
