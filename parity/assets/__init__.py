"""What jobs start from: canonical checkpoints, source pretraining, converted ImageNet weights, zoo files."""
