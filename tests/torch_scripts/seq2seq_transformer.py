"""A sequence-to-sequence nn.Transformer (batch_first) that learns to reverse short digit sequences: token
embeddings scaled by sqrt(d_model), a sinusoidal positional encoding kept in a registered buffer, causal target
mask from generate_square_subsequent_mask, key padding masks for source and target, CrossEntropyLoss with
ignore_index, Adam with a LambdaLR warmup, greedy decoding under torch.no_grad(). Weights and data come from NumPy
(tests/test_swapin_corpus.py compares every printed number with real torch).

usage: python seq2seq_transformer.py [--steps N] [--layers L]
"""
import argparse
import math

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

PAD_IDX, BOS_IDX, EOS_IDX = 0, 1, 2
VOCAB = 13  # pad, bos, eos, digits 0-9


class PositionalEncoding(nn.Module):
    def __init__(self, emb_size: int, dropout: float, maxlen: int = 64):
        super(PositionalEncoding, self).__init__()
        den = torch.exp(- torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        pos_embedding = pos_embedding.unsqueeze(0)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer('pos_embedding', pos_embedding)

    def forward(self, token_embedding: Tensor):
        return self.dropout(token_embedding + self.pos_embedding[:, :token_embedding.size(1), :])


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, emb_size):
        super(TokenEmbedding, self).__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens: Tensor):
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


class Seq2SeqTransformer(nn.Module):
    def __init__(self, num_encoder_layers, num_decoder_layers, emb_size, nhead, vocab_size, dim_feedforward=64,
                 dropout=0.0):
        super(Seq2SeqTransformer, self).__init__()
        self.transformer = nn.Transformer(d_model=emb_size, nhead=nhead, num_encoder_layers=num_encoder_layers,
                                          num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                                          dropout=dropout, batch_first=True)
        self.generator = nn.Linear(emb_size, vocab_size)
        self.src_tok_emb = TokenEmbedding(vocab_size, emb_size)
        self.tgt_tok_emb = TokenEmbedding(vocab_size, emb_size)
        self.positional_encoding = PositionalEncoding(emb_size, dropout=dropout)

    def forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, memory_key_padding_mask):
        src_emb = self.positional_encoding(self.src_tok_emb(src))
        tgt_emb = self.positional_encoding(self.tgt_tok_emb(trg))
        outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None,
                                src_padding_mask, tgt_padding_mask, memory_key_padding_mask)
        return self.generator(outs)

    def encode(self, src, src_mask, src_padding_mask=None):
        return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)), src_mask,
                                        src_key_padding_mask=src_padding_mask)

    def decode(self, tgt, memory, tgt_mask, memory_key_padding_mask=None):
        return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory, tgt_mask,
                                        memory_key_padding_mask=memory_key_padding_mask)


def create_mask(src, tgt):
    src_seq_len = src.shape[1]
    tgt_seq_len = tgt.shape[1]
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt_seq_len)
    src_mask = torch.zeros((src_seq_len, src_seq_len)).type(torch.bool)
    src_padding_mask = (src == PAD_IDX)
    tgt_padding_mask = (tgt == PAD_IDX)
    return src_mask, tgt_mask, src_padding_mask, tgt_padding_mask


def make_batch(rng, batch_size, max_len=7):
    """Variable-length digit strings; target is the reversed string, wrapped in BOS/EOS, padded with PAD."""
    lens = rng.integers(3, max_len + 1, size=batch_size)
    src = np.full((batch_size, max_len + 1), PAD_IDX, dtype=np.int64)
    tgt = np.full((batch_size, max_len + 2), PAD_IDX, dtype=np.int64)
    for i, n in enumerate(lens):
        digits = rng.integers(3, VOCAB, size=n)
        src[i, :n] = digits
        src[i, n] = EOS_IDX
        tgt[i, 0] = BOS_IDX
        tgt[i, 1:n + 1] = digits[::-1]
        tgt[i, n + 1] = EOS_IDX
    return torch.from_numpy(src), torch.from_numpy(tgt)


def greedy_decode(model, src, max_len):
    src_mask = torch.zeros(src.shape[1], src.shape[1]).type(torch.bool)
    memory = model.encode(src, src_mask)
    ys = torch.ones(1, 1).fill_(BOS_IDX).type(torch.long)
    for i in range(max_len - 1):
        tgt_mask = nn.Transformer.generate_square_subsequent_mask(ys.size(1)).type(torch.bool)
        out = model.decode(ys, memory, tgt_mask)
        prob = model.generator(out[:, -1])
        _, next_word = torch.max(prob, dim=1)
        next_word = next_word.item()
        ys = torch.cat([ys, torch.ones(1, 1).type_as(src.data).fill_(next_word)], dim=1)
        if next_word == EOS_IDX:
            break
    return ys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--steps', type=int, default=30)
    parser.add_argument('--layers', type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    DEVICE = torch.device('cuda' if torch.cuda.is_available() else 'cpu')

    transformer = Seq2SeqTransformer(args.layers, args.layers, 32, 4, VOCAB)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for name, p in transformer.named_parameters():
            if p.dim() > 1:
                bound = math.sqrt(6.0 / (p.shape[0] + p.shape[1]))   # xavier_uniform_, drawn from NumPy
                p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape)).astype(np.float32)))
            elif 'norm' in name and name.endswith('weight'):
                p.fill_(1.0)
            else:
                p.zero_()
    print('parameters', len(list(transformer.parameters())), sum(p.numel() for p in transformer.parameters()))
    transformer = transformer.to(DEVICE)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD_IDX)
    optimizer = torch.optim.Adam(transformer.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 10))

    data_rng = np.random.default_rng(1)
    transformer.train()
    for step in range(args.steps):
        src, tgt = make_batch(data_rng, 8)
        src, tgt = src.to(DEVICE), tgt.to(DEVICE)
        tgt_input = tgt[:, :-1]
        src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask(src, tgt_input)
        logits = transformer(src, tgt_input, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, src_padding_mask)
        optimizer.zero_grad()
        tgt_out = tgt[:, 1:]
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 5 == 0 or step == args.steps - 1:
            g = transformer.transformer.encoder.layers[0].self_attn.in_proj_weight.grad
            print(f"step {step} loss {loss.item():.6g} lr {scheduler.get_last_lr()[0]:.6g} "
                  f"enc0 in_proj grad norm {g.norm().item():.6g}")

    transformer.eval()
    with torch.no_grad():
        src, tgt = make_batch(data_rng, 4)
        tgt_input = tgt[:, :-1]
        src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask(src, tgt_input)
        logits = transformer(src, tgt_input, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, src_padding_mask)
        eval_loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1))
        print(f"eval loss {eval_loss.item():.6g}")
        for i in range(2):
            n = int((src[i] != PAD_IDX).sum())
            ys = greedy_decode(transformer, src[i:i + 1, :n], max_len=n + 2)
            print('src', src[i, :n].tolist(), 'decoded', ys.flatten().tolist())


if __name__ == '__main__':
    main()
