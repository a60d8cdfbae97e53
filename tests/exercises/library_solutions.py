"""The library's own classes, graded as answers to the exercises: all must pass."""

import nn
import optim

EXERCISE = {"Linear": "linear", "Sigmoid": "sigmoid", "Tanh": "tanh",
            "CrossEntropyLoss": "softmax-cross-entropy", "Dropout": "dropout", "Adam": "adam"}

Linear, Sigmoid, Tanh, Dropout = nn.Linear, nn.Sigmoid, nn.Tanh, nn.Dropout
CrossEntropyLoss = nn.CrossEntropyLoss
Adam = optim.Adam
