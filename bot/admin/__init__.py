"""Admin tuning: training examples, intents, replies and policies edited with history (tuning, training_data,
replies, config_files), the NLU inbox and conversation review, and the model lifecycle (model_training,
model_evaluation, model_jobs: train, evaluate, activate and roll back without dropping a conversation)."""
