"""GAN Explorer engine: train and explore MLP GANs on MNIST, without Streamlit."""
