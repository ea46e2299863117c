"""Gera ``instrucoes.json``, o conjunto de instruções em português do capítulo 7.

Não existe, offline, um conjunto de instruções em PT-BR do tamanho certo para o nosso GPT de ~6 milhões de
parâmetros; então o curso escreve o seu. Este script monta os exemplos a partir de listas de palavras e de modelos
de frase escritos à mão para o curso (nenhum dado externo) e grava uma lista JSON de objetos

    {"instrucao": ..., "entrada": ..., "saida": ..., "tarefa": ..., "divisao": "treino" | "teste"}

Como rodar (da pasta do capítulo ou da raiz do repositório; os caminhos saem de ``__file__``)::

    python gerar_dados.py

Propriedades que os testes conferem:

* **Determinístico.** Só a biblioteca padrão; os sorteios usam ``random.Random`` com sementes fixas e nenhuma
  ordem depende de ``set`` ou de ``hash``. Rodar duas vezes produz um JSON idêntico byte a byte.
* **Respostas curtas e verificáveis.** Cada resposta é uma palavra, um número, uma lista ou uma frase curta,
  calculada por regra ou tirada de uma tabela — dá para conferir com igualdade exata (ou normalizada).
  Convenções: contagens e contas em algarismos (a não ser que a instrução peça "por extenso"); listas separadas
  por vírgula; classificações em minúsculas; conjugação no formato "pronome forma" ("nós falamos").
  Números por extenso na forma masculina ("um", "dois", "duzentos") e "quatorze" (a forma "catorze" também é
  correta, mas escolhemos uma só para a resposta ser única).
* **Cabe no contexto.** Instrução + entrada + resposta têm no máximo ``LIMITE_CARACTERES`` caracteres, para o
  exemplo inteiro, já dentro do modelo de prompt no estilo Alpaca, caber com folga em 256 tokens.
* **Sem repetição.** Nenhum par (instrucao, entrada) aparece duas vezes no arquivo.
* **Divisão fixa.** Em cada tarefa, cerca de 12 % dos exemplos vão para ``teste``, sorteados com
  ``random.Random(2024)`` (estratificado por tarefa). Como não há pares (instrucao, entrada) repetidos, nenhum
  exemplo de teste aparece no treino. Atenção ao que isso mede: o teste pode reaproveitar palavras do treino em
  outra formulação (o plural de "pão" pode estar no treino como "Qual é o plural de "pão"?" e no teste como
  "Passe para o plural." com entrada "pão"). É de propósito: um modelo minúsculo não vai aprender o plural de
  palavras que nunca viu, mas pode aprender a entender pedidos escritos de outro jeito e a aplicar regras
  (contas, contagens, ordem alfabética, números por extenso) a combinações novas.
"""
from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path

PASTA = Path(__file__).resolve().parent
ARQUIVO = PASTA / "instrucoes.json"

SEMENTE_DIVISAO = 2024
FRACAO_TESTE = 0.12
LIMITE_CARACTERES = 200
OPCOES_JSON = {"ensure_ascii": False, "indent": 1}

# Ordem fixa das tarefas (é também a ordem do arquivo e a ordem do sorteio da divisão).
TAREFAS = (
    "plural",
    "singular",
    "genero",
    "antonimo",
    "conjugacao",
    "numero_por_extenso",
    "conta",
    "ordenar",
    "inverter",
    "contar_letras",
    "contar_palavras",
    "primeira_ultima_letra",
    "sentimento",
    "pergunta_ou_afirmacao",
    "reescrita",
    "glossario",
)

# =====================================================================================================
# Listas de palavras
# =====================================================================================================

# (singular, plural), agrupados pela regra de formação do plural.
PLURAIS = [
    # vogal (oral ou nasal) e ditongo: acrescenta -s
    ("casa", "casas"), ("livro", "livros"), ("mesa", "mesas"), ("gato", "gatos"), ("cadeira", "cadeiras"),
    ("janela", "janelas"), ("porta", "portas"), ("carro", "carros"), ("menino", "meninos"),
    ("escola", "escolas"), ("árvore", "árvores"), ("cidade", "cidades"), ("estrela", "estrelas"),
    ("caneta", "canetas"), ("sapato", "sapatos"), ("camisa", "camisas"), ("cavalo", "cavalos"),
    ("pássaro", "pássaros"), ("montanha", "montanhas"), ("rio", "rios"), ("barco", "barcos"),
    ("café", "cafés"), ("sofá", "sofás"), ("chapéu", "chapéus"), ("pé", "pés"), ("irmã", "irmãs"),
    ("maçã", "maçãs"), ("fã", "fãs"), ("ímã", "ímãs"), ("tatu", "tatus"), ("caju", "cajus"),
    ("bambu", "bambus"), ("boné", "bonés"), ("jacaré", "jacarés"), ("picolé", "picolés"),
    ("dominó", "dominós"), ("paletó", "paletós"), ("chá", "chás"), ("avó", "avós"), ("herói", "heróis"),
    ("troféu", "troféus"), ("museu", "museus"), ("pneu", "pneus"), ("céu", "céus"), ("rei", "reis"),
    ("lei", "leis"), ("boi", "bois"), ("táxi", "táxis"), ("abacaxi", "abacaxis"),
    # -ão -> -ões (o caso mais comum)
    ("limão", "limões"), ("leão", "leões"), ("avião", "aviões"), ("botão", "botões"),
    ("coração", "corações"), ("balão", "balões"), ("melão", "melões"), ("fogão", "fogões"),
    ("nação", "nações"), ("canção", "canções"), ("lição", "lições"), ("estação", "estações"),
    ("eleição", "eleições"), ("opinião", "opiniões"), ("questão", "questões"), ("feijão", "feijões"),
    ("sabão", "sabões"), ("caminhão", "caminhões"), ("colchão", "colchões"), ("portão", "portões"),
    ("trovão", "trovões"), ("razão", "razões"), ("camarão", "camarões"), ("dragão", "dragões"),
    ("furacão", "furacões"), ("pulmão", "pulmões"), ("mamão", "mamões"), ("balcão", "balcões"),
    ("tubarão", "tubarões"), ("violão", "violões"), ("salão", "salões"), ("lampião", "lampiões"),
    # -ão -> -ães
    ("pão", "pães"), ("cão", "cães"), ("capitão", "capitães"), ("alemão", "alemães"),
    ("escrivão", "escrivães"), ("tabelião", "tabeliães"), ("capelão", "capelães"),
    # -ão -> -ãos
    ("mão", "mãos"), ("irmão", "irmãos"), ("cidadão", "cidadãos"), ("cristão", "cristãos"),
    ("órgão", "órgãos"), ("órfão", "órfãos"), ("bênção", "bênçãos"), ("grão", "grãos"),
    ("chão", "chãos"),
    ("sótão", "sótãos"), ("pagão", "pagãos"),
    # -al -> -ais
    ("animal", "animais"), ("jornal", "jornais"), ("hospital", "hospitais"), ("canal", "canais"),
    ("casal", "casais"), ("sinal", "sinais"), ("quintal", "quintais"), ("varal", "varais"),
    ("metal", "metais"), ("pedal", "pedais"), ("cristal", "cristais"), ("general", "generais"),
    ("avental", "aventais"), ("pardal", "pardais"), ("mural", "murais"), ("coral", "corais"),
    # -el tônico -> -éis; -el átono -> -eis
    ("anel", "anéis"), ("papel", "papéis"), ("pastel", "pastéis"), ("hotel", "hotéis"),
    ("coronel", "coronéis"), ("carretel", "carretéis"), ("painel", "painéis"), ("quartel", "quartéis"),
    ("pincel", "pincéis"), ("aluguel", "aluguéis"), ("túnel", "túneis"), ("móvel", "móveis"),
    ("nível", "níveis"), ("automóvel", "automóveis"), ("amável", "amáveis"), ("possível", "possíveis"),
    ("incrível", "incríveis"),
    # -ol -> -óis; -ul -> -uis
    ("farol", "faróis"), ("lençol", "lençóis"), ("anzol", "anzóis"), ("caracol", "caracóis"),
    ("girassol", "girassóis"), ("sol", "sóis"), ("espanhol", "espanhóis"), ("rouxinol", "rouxinóis"),
    ("azul", "azuis"),
    # -il tônico -> -is; -il átono -> -eis
    ("barril", "barris"), ("funil", "funis"), ("fuzil", "fuzis"), ("canil", "canis"), ("perfil", "perfis"),
    ("gentil", "gentis"), ("civil", "civis"), ("febril", "febris"),
    ("fóssil", "fósseis"), ("réptil", "répteis"), ("míssil", "mísseis"), ("fácil", "fáceis"),
    ("útil", "úteis"), ("difícil", "difíceis"), ("frágil", "frágeis"), ("dócil", "dóceis"),
    ("hábil", "hábeis"), ("ágil", "ágeis"),
    # -r e -z -> -es (às vezes com acento novo: raízes, juízes)
    ("flor", "flores"), ("mar", "mares"), ("colher", "colheres"), ("mulher", "mulheres"),
    ("professor", "professores"), ("cantor", "cantores"), ("amor", "amores"), ("dor", "dores"),
    ("motor", "motores"), ("computador", "computadores"), ("elevador", "elevadores"), ("lugar", "lugares"),
    ("jantar", "jantares"), ("açúcar", "açúcares"), ("hambúrguer", "hambúrgueres"), ("ator", "atores"),
    ("pintor", "pintores"), ("bar", "bares"), ("cobertor", "cobertores"), ("tambor", "tambores"),
    ("luz", "luzes"), ("voz", "vozes"), ("nariz", "narizes"), ("cruz", "cruzes"), ("vez", "vezes"),
    ("raiz", "raízes"), ("juiz", "juízes"), ("rapaz", "rapazes"), ("giz", "gizes"), ("atriz", "atrizes"),
    ("cartaz", "cartazes"), ("cicatriz", "cicatrizes"), ("noz", "nozes"), ("capuz", "capuzes"),
    ("avestruz", "avestruzes"),
    # -s em sílaba tônica -> -es
    ("país", "países"), ("mês", "meses"), ("português", "portugueses"), ("freguês", "fregueses"),
    ("gás", "gases"), ("deus", "deuses"), ("inglês", "ingleses"), ("francês", "franceses"),
    ("japonês", "japoneses"), ("marquês", "marqueses"),
    # -s ou -x em sílaba átona: não mudam
    ("lápis", "lápis"), ("ônibus", "ônibus"), ("vírus", "vírus"), ("tênis", "tênis"), ("pires", "pires"),
    ("atlas", "atlas"), ("tórax", "tórax"), ("bônus", "bônus"), ("oásis", "oásis"),
    # -m -> -ns
    ("homem", "homens"), ("jardim", "jardins"), ("nuvem", "nuvens"), ("viagem", "viagens"),
    ("armazém", "armazéns"), ("trem", "trens"), ("som", "sons"), ("atum", "atuns"), ("fim", "fins"),
    ("garagem", "garagens"), ("imagem", "imagens"), ("origem", "origens"), ("álbum", "álbuns"),
    ("item", "itens"), ("bombom", "bombons"), ("pudim", "pudins"), ("jovem", "jovens"),
    # casos especiais
    ("qualquer", "quaisquer"), ("caráter", "caracteres"), ("cônsul", "cônsules"), ("mal", "males"),
    # compostos com hífen
    ("guarda-chuva", "guarda-chuvas"), ("beija-flor", "beija-flores"), ("segunda-feira", "segundas-feiras"),
    ("cachorro-quente", "cachorros-quentes"), ("obra-prima", "obras-primas"),
]

# (masculino, feminino)
GENEROS = [
    ("menino", "menina"), ("gato", "gata"), ("professor", "professora"), ("ator", "atriz"), ("rei", "rainha"),
    ("homem", "mulher"), ("pai", "mãe"), ("avô", "avó"), ("irmão", "irmã"), ("leão", "leoa"),
    ("cachorro", "cachorra"), ("cavalo", "égua"), ("galo", "galinha"), ("bode", "cabra"),
    ("carneiro", "ovelha"), ("genro", "nora"), ("padrinho", "madrinha"), ("príncipe", "princesa"),
    ("duque", "duquesa"), ("conde", "condessa"), ("barão", "baronesa"), ("imperador", "imperatriz"),
    ("herói", "heroína"), ("réu", "ré"), ("frade", "freira"), ("cidadão", "cidadã"), ("campeão", "campeã"),
    ("alemão", "alemã"), ("ladrão", "ladra"), ("patrão", "patroa"), ("aluno", "aluna"), ("médico", "médica"),
    ("juiz", "juíza"), ("senhor", "senhora"), ("doutor", "doutora"), ("cantor", "cantora"),
    ("padeiro", "padeira"), ("vendedor", "vendedora"), ("espanhol", "espanhola"),
    ("português", "portuguesa"), ("freguês", "freguesa"), ("monge", "monja"), ("sogro", "sogra"),
    ("tio", "tia"), ("primo", "prima"), ("neto", "neta"), ("compadre", "comadre"), ("abade", "abadessa"),
    ("deus", "deusa"), ("tigre", "tigresa"), ("lobo", "loba"), ("pato", "pata"), ("porco", "porca"),
    ("peru", "perua"), ("padrasto", "madrasta"), ("marquês", "marquesa"), ("visconde", "viscondessa"),
    ("mestre", "mestra"), ("sultão", "sultana"), ("anfitrião", "anfitriã"), ("europeu", "europeia"),
    ("plebeu", "plebeia"), ("judeu", "judia"), ("mau", "má"), ("cristão", "cristã"), ("órfão", "órfã"),
    ("anão", "anã"), ("vilão", "vilã"), ("moço", "moça"), ("cavalheiro", "dama"), ("bom", "boa"),
]

# Pares de antônimos; cada palavra aparece em um só par, para a resposta ser única nos dois sentidos.
ANTONIMOS = [
    # adjetivos
    ("alto", "baixo"), ("grande", "pequeno"), ("quente", "frio"), ("claro", "escuro"), ("rápido", "lento"),
    ("novo", "velho"), ("feliz", "triste"), ("forte", "fraco"), ("rico", "pobre"), ("cheio", "vazio"),
    ("limpo", "sujo"), ("gordo", "magro"), ("fácil", "difícil"), ("aberto", "fechado"),
    ("largo", "estreito"), ("longo", "curto"), ("grosso", "fino"), ("duro", "mole"), ("pesado", "leve"),
    ("doce", "amargo"), ("seco", "molhado"), ("certo", "errado"), ("verdadeiro", "falso"),
    ("possível", "impossível"), ("útil", "inútil"), ("capaz", "incapaz"), ("honesto", "desonesto"),
    ("barato", "caro"), ("vivo", "morto"), ("bonito", "feio"), ("corajoso", "covarde"),
    ("positivo", "negativo"), ("máximo", "mínimo"), ("maior", "menor"), ("melhor", "pior"),
    ("primeiro", "último"), ("interno", "externo"), ("superior", "inferior"), ("público", "privado"),
    ("natural", "artificial"), ("antigo", "moderno"), ("cru", "cozido"), ("vertical", "horizontal"),
    ("masculino", "feminino"), ("singular", "plural"), ("ótimo", "péssimo"), ("concreto", "abstrato"),
    # verbos
    ("abrir", "fechar"), ("entrar", "sair"), ("subir", "descer"), ("comprar", "vender"),
    ("ganhar", "perder"), ("amar", "odiar"), ("acender", "apagar"), ("lembrar", "esquecer"),
    ("aceitar", "recusar"), ("ligar", "desligar"), ("começar", "terminar"), ("nascer", "morrer"),
    ("perguntar", "responder"), ("dar", "receber"), ("obedecer", "desobedecer"),
    ("aparecer", "desaparecer"), ("concordar", "discordar"), ("construir", "destruir"),
    ("aumentar", "diminuir"), ("empurrar", "puxar"), ("ensinar", "aprender"), ("encher", "esvaziar"),
    ("unir", "separar"), ("atacar", "defender"), ("chegar", "partir"), ("vestir", "despir"),
    ("rir", "chorar"), ("dormir", "acordar"),
    # substantivos e advérbios
    ("dia", "noite"), ("sim", "não"), ("sempre", "nunca"), ("muito", "pouco"), ("dentro", "fora"),
    ("perto", "longe"), ("antes", "depois"), ("cedo", "tarde"), ("mais", "menos"), ("tudo", "nada"),
    ("alguém", "ninguém"), ("início", "fim"), ("verdade", "mentira"), ("amor", "ódio"), ("paz", "guerra"),
    ("bem", "mal"), ("sucesso", "fracasso"), ("vitória", "derrota"), ("entrada", "saída"),
    ("pergunta", "resposta"), ("presença", "ausência"), ("norte", "sul"), ("leste", "oeste"),
    ("esquerda", "direita"), ("ida", "volta"), ("riqueza", "pobreza"), ("alegria", "tristeza"),
    ("amigo", "inimigo"), ("vencedor", "perdedor"), ("acima", "abaixo"),
]

# Verbos regulares (com as trocas de grafia -car/-gar/-çar no pretérito de "eu") e irregulares.
VERBOS_REGULARES = [
    "falar", "cantar", "andar", "estudar", "trabalhar", "morar", "nadar", "gostar", "comprar", "levar",
    "pular", "lavar", "olhar", "chamar", "ajudar", "escutar", "viajar", "sonhar", "tomar", "entrar",
    "voltar", "pensar", "ficar", "chegar", "tocar", "pagar", "dançar", "começar", "jogar", "brincar",
    "almoçar",
    "comer", "beber", "correr", "vender", "escrever", "aprender", "responder", "entender", "viver",
    "bater", "receber", "esconder", "morder", "dever", "sofrer", "escolher", "acender", "varrer", "prometer",
    "partir", "abrir", "dividir", "decidir", "assistir", "discutir", "permitir", "resistir", "existir",
    "insistir", "imprimir", "admitir", "unir",
]

# pessoa gramatical: 0 = eu, 1 = tu, 2 = ele/ela/você, 3 = nós, 4 = eles/elas/vocês
PRONOMES = {"eu": 0, "tu": 1, "ele": 2, "ela": 2, "você": 2, "nós": 3, "vocês": 4, "eles": 4, "elas": 4}

TERMINACOES = {
    ("presente", "ar"): ("o", "as", "a", "amos", "am"),
    ("presente", "er"): ("o", "es", "e", "emos", "em"),
    ("presente", "ir"): ("o", "es", "e", "imos", "em"),
    ("pretérito perfeito", "ar"): ("ei", "aste", "ou", "amos", "aram"),
    ("pretérito perfeito", "er"): ("i", "este", "eu", "emos", "eram"),
    ("pretérito perfeito", "ir"): ("i", "iste", "iu", "imos", "iram"),
}

VERBOS_IRREGULARES = {
    "ser": (("sou", "és", "é", "somos", "são"), ("fui", "foste", "foi", "fomos", "foram")),
    "estar": (("estou", "estás", "está", "estamos", "estão"),
              ("estive", "estiveste", "esteve", "estivemos", "estiveram")),
    "ter": (("tenho", "tens", "tem", "temos", "têm"), ("tive", "tiveste", "teve", "tivemos", "tiveram")),
    "ir": (("vou", "vais", "vai", "vamos", "vão"), ("fui", "foste", "foi", "fomos", "foram")),
    "fazer": (("faço", "fazes", "faz", "fazemos", "fazem"), ("fiz", "fizeste", "fez", "fizemos", "fizeram")),
    "poder": (("posso", "podes", "pode", "podemos", "podem"),
              ("pude", "pudeste", "pôde", "pudemos", "puderam")),
    "dizer": (("digo", "dizes", "diz", "dizemos", "dizem"),
              ("disse", "disseste", "disse", "dissemos", "disseram")),
    "ver": (("vejo", "vês", "vê", "vemos", "veem"), ("vi", "viste", "viu", "vimos", "viram")),
    "dar": (("dou", "dás", "dá", "damos", "dão"), ("dei", "deste", "deu", "demos", "deram")),
    "querer": (("quero", "queres", "quer", "queremos", "querem"),
               ("quis", "quiseste", "quis", "quisemos", "quiseram")),
    "vir": (("venho", "vens", "vem", "vimos", "vêm"), ("vim", "vieste", "veio", "viemos", "vieram")),
    "saber": (("sei", "sabes", "sabe", "sabemos", "sabem"),
              ("soube", "soubeste", "soube", "soubemos", "souberam")),
    "trazer": (("trago", "trazes", "traz", "trazemos", "trazem"),
               ("trouxe", "trouxeste", "trouxe", "trouxemos", "trouxeram")),
    "pôr": (("ponho", "pões", "põe", "pomos", "põem"), ("pus", "puseste", "pôs", "pusemos", "puseram")),
}

UNIDADES = (
    "zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez", "onze", "doze",
    "treze", "quatorze", "quinze", "dezesseis", "dezessete", "dezoito", "dezenove",
)
DEZENAS = ("", "", "vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta", "noventa")
CENTENAS = (
    "", "cento", "duzentos", "trezentos", "quatrocentos", "quinhentos", "seiscentos", "setecentos",
    "oitocentos", "novecentos",
)

# Palavras das listas acima que não são substantivos: ficam fora das tarefas de ordem, inversão e letras.
NAO_SUBSTANTIVOS = (
    "qualquer", "mal", "mau", "má", "bom", "boa", "fácil", "útil", "difícil", "frágil", "dócil", "hábil",
    "ágil", "gentil", "civil", "febril", "amável", "possível", "incrível", "azul",
)

# Mais substantivos comuns para as tarefas de ordem alfabética, inversão e letras.
PALAVRAS_EXTRAS = [
    "amigo", "bola", "chuva", "dente", "escada", "faca", "garfo", "horta", "igreja", "janela", "laranja",
    "música", "navio", "ovo", "praia", "queijo", "roda", "sino", "tijolo", "uva", "vaca", "xícara", "zebra",
    "água", "ônibus", "óculos", "abelha", "banana", "cebola", "dado", "elefante", "foguete", "girafa",
    "hora", "ilha", "jogo", "lua", "macaco", "neve", "ouro", "pato", "quadro", "rato", "sapo", "tomate",
    "urso", "vento", "banco", "cinema", "dinheiro", "festa", "gelo", "história", "inverno", "jardim",
]

# Frases afirmativas neutras (também usadas em contagem de palavras e reescrita).
AFIRMACOES = [
    "A estação de trem fica no centro.", "Almocei cedo hoje.", "Minha irmã tem doze anos.",
    "O céu está nublado.", "O campeonato começa em março.", "Machado de Assis escreveu Dom Casmurro.",
    "Brasília é a capital do Brasil.", "Amanhã vai chover.", "Eu gosto de ler romances.",
    "A padaria abre às seis horas.", "Este livro custa trinta reais.", "O trem sai da plataforma dois.",
    "Moro perto da praia.", "A viagem durou três horas.", "Meu nome é Ana.", "O ônibus já passou.",
    "Este caderno é do Pedro.", "Minha cor favorita é o verde.", "O mercado fecha aos domingos.",
    "Prefiro chá a café.", "A chave está em cima da mesa.", "A lua muda de forma ao longo do mês.",
    "Os alunos chegaram cedo.", "O rio atravessa a cidade.", "Hoje é sábado.", "O gato dorme no sofá.",
    "A biblioteca tem muitos livros.", "Meu avô planta tomates no quintal.", "O jantar será às oito.",
    "As crianças brincam no parque.", "O relógio da sala está parado.", "A escola fica a duas quadras daqui.",
    "Os pássaros voltam na primavera.", "O modelo prevê o próximo token.", "Meu irmão trabalha em um hospital.",
    "A água ferve a cem graus.", "O museu abre às dez horas.", "Choveu muito durante a noite.",
    "A loja vende roupas e sapatos.", "O professor corrigiu as provas.", "Você pode sentar aqui.",
    "Ela já terminou a lição de casa.",
]

PERGUNTAS = [
    "Onde fica a estação de trem?", "Você já almoçou hoje?", "Quantos anos tem a sua irmã?",
    "Por que o céu é azul?", "Quando começa o campeonato?", "Quem escreveu Dom Casmurro?",
    "Como se faz um bolo de cenoura?", "Qual é a capital do Brasil?", "Vai chover amanhã?",
    "Você gosta de ler romances?", "A que horas abre a padaria?", "Quanto custa este livro?",
    "Posso sentar aqui?", "O que você vai fazer no fim de semana?", "Qual é o seu nome?",
    "Onde você mora?", "Como foi a viagem?", "Quem chegou primeiro?", "Por que você está triste?",
    "Já terminou a lição de casa?", "Quantas pessoas vêm para o jantar?", "Qual caminho é mais curto?",
    "Você pode me ajudar?", "Quando você volta?", "O ônibus já passou?", "De quem é este caderno?",
    "Qual é a sua cor favorita?", "Para onde vai este trem?", "Como se diz obrigado em inglês?",
    "Que horas são?", "O mercado fecha aos domingos?", "Você prefere café ou chá?",
    "Quem vai levar as crianças à escola?", "Quanto tempo demora a viagem?", "Onde está a chave do carro?",
    "O que significa esta palavra?", "Como funciona um modelo de linguagem?", "Por que a lua muda de forma?",
    "Vocês já conhecem o Rio de Janeiro?", "O gato dorme no sofá?", "A água ferve a cem graus?",
    "Você viu meu guarda-chuva?",
]

FRASES_POSITIVAS = [
    "Adorei o presente que você me deu.", "O show de ontem foi inesquecível.",
    "Estou muito feliz com o resultado da prova.", "Que dia lindo para passear no parque!",
    "A comida daquele restaurante é deliciosa.", "Meu time ganhou o campeonato.",
    "Gostei muito do livro que você indicou.", "A professora explicou tudo com muita paciência.",
    "Finalmente consegui o emprego dos meus sonhos.", "As férias na praia foram perfeitas.",
    "O atendimento da loja foi rápido e gentil.", "Recebi um elogio do meu chefe hoje.",
    "Foi um prazer conhecer sua família.", "O bolo da vovó estava uma delícia.", "Passei no vestibular!",
    "A viagem foi tranquila e divertida.", "Esse filme me fez rir do começo ao fim.",
    "Fiquei encantado com a vista da montanha.", "O novo parque da cidade ficou lindo.",
    "Meus amigos fizeram uma festa surpresa para mim.", "O remédio funcionou e já me sinto melhor.",
    "Ganhei um livro novo de aniversário.", "A apresentação da turma foi um sucesso.",
    "Amei o passeio de barco.", "O café desta padaria é excelente.", "Dormi muito bem esta noite.",
    "O cachorro recebeu a família com alegria.", "Que notícia boa!", "O aluno tirou nota máxima na prova.",
    "Estou orgulhoso do seu trabalho.", "Que bom te ver de novo!", "A nova vizinha é muito simpática.",
]

FRASES_NEGATIVAS = [
    "Odiei esperar duas horas na fila.", "O ônibus atrasou de novo e perdi a reunião.",
    "A comida chegou fria e sem sabor.", "Estou muito triste com a notícia.", "O filme foi longo e chato.",
    "Perdi minha carteira no caminho de casa.", "O atendimento foi grosseiro e demorado.",
    "Choveu o dia inteiro e estragou o passeio.", "Meu celular quebrou logo depois da compra.",
    "Fiquei decepcionado com o final do livro.", "O barulho da obra não me deixou dormir.",
    "A internet caiu no meio da aula.", "Que dia horrível!", "O produto veio com defeito.",
    "Meu time perdeu a final.", "Tive uma dor de cabeça terrível.", "A viagem foi cansativa e cara.",
    "Ninguém respondeu às minhas mensagens.", "O hotel estava sujo e barulhento.",
    "Reprovei na prova de matemática.", "O trânsito estava insuportável hoje.", "A sopa estava salgada demais.",
    "Fui mal na entrevista de emprego.", "O computador travou e perdi o trabalho.", "A festa foi um fracasso.",
    "Estou cansado de tanto esperar.", "Briguei com meu melhor amigo.", "O guarda-chuva quebrou com o vento.",
    "Não gostei do atendimento.", "Que pena que você não veio!", "O pneu furou no meio da estrada.",
]

# Modelos para frases de opinião: sujeito (com gênero) + verbo + adjetivo.
SUJEITOS_OPINIAO = [
    ("o filme", "m"), ("a comida", "f"), ("o passeio", "m"), ("a aula", "f"), ("o livro", "m"),
    ("o show", "m"), ("a viagem", "f"), ("o atendimento", "m"), ("o jogo", "m"), ("a festa", "f"),
    ("o hotel", "m"), ("a palestra", "f"), ("o restaurante", "m"), ("a peça", "f"), ("o curso", "m"),
]
ADJETIVOS_POSITIVOS = [
    ("ótimo", "ótima"), ("excelente", "excelente"), ("maravilhoso", "maravilhosa"), ("incrível", "incrível"),
    ("muito bom", "muito boa"), ("divertido", "divertida"), ("agradável", "agradável"), ("perfeito", "perfeita"),
]
ADJETIVOS_NEGATIVOS = [
    ("péssimo", "péssima"), ("horrível", "horrível"), ("terrível", "terrível"), ("muito ruim", "muito ruim"),
    ("chato", "chata"), ("decepcionante", "decepcionante"), ("cansativo", "cansativa"),
    ("desagradável", "desagradável"),
]

# Expressões para a reescrita no plural: substantivo (gênero, singular, plural) + adjetivo (4 formas).
COISAS = [
    ("m", "livro", "livros"), ("f", "casa", "casas"), ("f", "mesa", "mesas"), ("m", "carro", "carros"),
    ("m", "papel", "papéis"), ("m", "anel", "anéis"), ("m", "lápis", "lápis"), ("m", "jornal", "jornais"),
    ("m", "botão", "botões"), ("m", "balão", "balões"), ("m", "farol", "faróis"), ("m", "lençol", "lençóis"),
    ("f", "colher", "colheres"), ("m", "chapéu", "chapéus"), ("m", "caminhão", "caminhões"),
    ("m", "avião", "aviões"), ("m", "fogão", "fogões"), ("m", "trem", "trens"), ("m", "ônibus", "ônibus"),
    ("m", "hotel", "hotéis"), ("m", "jardim", "jardins"), ("m", "cartaz", "cartazes"),
    ("f", "imagem", "imagens"), ("f", "janela", "janelas"), ("f", "flor", "flores"), ("f", "mão", "mãos"),
    ("f", "caneta", "canetas"), ("m", "barril", "barris"),
]
ADJETIVOS_COISAS = [
    ("novo", "nova", "novos", "novas"), ("velho", "velha", "velhos", "velhas"),
    ("bonito", "bonita", "bonitos", "bonitas"), ("pequeno", "pequena", "pequenos", "pequenas"),
    ("grande", "grande", "grandes", "grandes"), ("azul", "azul", "azuis", "azuis"),
    ("branco", "branca", "brancos", "brancas"), ("preto", "preta", "pretos", "pretas"),
    ("antigo", "antiga", "antigos", "antigas"), ("simples", "simples", "simples", "simples"),
]
SERES = [
    ("m", "menino", "meninos"), ("f", "menina", "meninas"), ("m", "professor", "professores"),
    ("f", "professora", "professoras"), ("m", "irmão", "irmãos"), ("f", "irmã", "irmãs"),
    ("m", "cidadão", "cidadãos"), ("m", "capitão", "capitães"), ("m", "leão", "leões"), ("m", "cão", "cães"),
    ("m", "animal", "animais"), ("m", "homem", "homens"), ("f", "mulher", "mulheres"), ("m", "juiz", "juízes"),
    ("m", "ator", "atores"), ("f", "atriz", "atrizes"), ("m", "rapaz", "rapazes"), ("m", "pássaro", "pássaros"),
    ("m", "aluno", "alunos"), ("f", "aluna", "alunas"), ("m", "alemão", "alemães"), ("m", "gato", "gatos"),
]
ADJETIVOS_SERES = [
    ("feliz", "feliz", "felizes", "felizes"), ("gentil", "gentil", "gentis", "gentis"),
    ("pequeno", "pequena", "pequenos", "pequenas"), ("velho", "velha", "velhos", "velhas"),
    ("jovem", "jovem", "jovens", "jovens"), ("trabalhador", "trabalhadora", "trabalhadores", "trabalhadoras"),
    ("simpático", "simpática", "simpáticos", "simpáticas"), ("cansado", "cansada", "cansados", "cansadas"),
    ("útil", "útil", "úteis", "úteis"), ("português", "portuguesa", "portugueses", "portuguesas"),
]
# (singular, plural) do verbo no presente; todos servem para pessoas e animais.
VERBOS_SERES = [
    ("corre", "correm"), ("dorme", "dormem"), ("come", "comem"), ("descansa", "descansam"),
    ("pula", "pulam"), ("brinca", "brincam"), ("espera", "esperam"), ("chega", "chegam"), ("sai", "saem"),
    ("volta", "voltam"), ("bebe", "bebem"), ("acorda", "acordam"),
]

# Glossário do curso: (termo, termo com artigo, plural?, definição curta escrita para o curso).
GLOSSARIO = [
    ("token", "um token", False,
     "Um pedaço de texto (palavra, parte de palavra ou sinal) que o modelo trata como uma unidade e "
     "representa por um número."),
    ("tokenizador", "um tokenizador", False,
     "O programa que divide o texto em tokens e troca cada token pelo seu id; ele também faz o caminho de volta."),
    ("vocabulário", "o vocabulário", False,
     "O conjunto de todos os tokens que o tokenizador conhece, cada um com o seu id."),
    ("BPE", "o BPE", False,
     "Byte Pair Encoding: um tokenizador que parte dos bytes e junta, passo a passo, os pares vizinhos mais "
     "frequentes em tokens novos."),
    ("embedding", "um embedding", False,
     "Um vetor de números aprendido que representa um token; o modelo o busca numa tabela pelo id do token."),
    ("embedding posicional", "o embedding posicional", False,
     "Um vetor somado ao embedding do token para dizer ao modelo em que posição da sequência o token está."),
    ("atenção", "a atenção", False,
     "O mecanismo que deixa cada token misturar informação dos outros tokens, com pesos que dizem quanto "
     "olhar para cada um."),
    ("máscara causal", "a máscara causal", False,
     "A máscara que impede cada token de olhar para os tokens que vêm depois dele: o modelo não vê o futuro."),
    ("atenção multi-cabeça", "a atenção multi-cabeça", False,
     "Várias atenções em paralelo, cada uma com seus próprios pesos; as saídas são concatenadas e projetadas."),
    ("query, key e value", "query, key e value", True,
     "As três projeções de cada token na atenção: a query procura, a key é comparada com as queries e o value "
     "é o conteúdo misturado."),
    ("dropout", "o dropout", False,
     "Uma regularização que, durante o treino, zera ao acaso uma fração das ativações para reduzir o "
     "overfitting."),
    ("LayerNorm", "a LayerNorm", False,
     "Uma normalização que deixa o vetor de cada token com média zero e variância um, seguida de escala e "
     "deslocamento aprendidos."),
    ("GELU", "a GELU", False,
     "Uma função de ativação suave, parecida com a ReLU, usada na camada feed-forward do GPT."),
    ("conexão residual", "uma conexão residual", False,
     "Um atalho que soma a entrada de uma camada à sua saída e facilita a passagem do gradiente."),
    ("feed-forward", "a camada feed-forward", False,
     "Duas camadas lineares com uma ativação no meio, aplicadas a cada token separadamente."),
    ("bloco transformer", "um bloco transformer", False,
     "A peça que se repete no GPT: atenção e feed-forward, cada uma com LayerNorm e conexão residual."),
    ("GPT", "o GPT", False,
     "Um modelo de linguagem feito de blocos transformer com máscara causal, treinado para prever o próximo token."),
    ("logits", "os logits", True,
     "As pontuações que o modelo dá a cada token do vocabulário antes do softmax."),
    ("softmax", "a função softmax", False,
     "A função que transforma uma lista de pontuações em probabilidades positivas que somam um."),
    ("entropia cruzada", "a entropia cruzada", False,
     "A perda do treino: a média de menos o logaritmo da probabilidade que o modelo dá ao token correto."),
    ("perplexidade", "a perplexidade", False,
     "A exponencial da perda de entropia cruzada; quanto menor, melhor o modelo prevê o próximo token."),
    ("bits por caractere", "bits por caractere", True,
     "A perda por token dividida por ln 2 e pelos caracteres por token; compara modelos com tokenizadores "
     "diferentes."),
    ("pré-treinamento", "o pré-treinamento", False,
     "A primeira fase do treino: o modelo aprende a prever o próximo token em muito texto sem rótulos."),
    ("fine-tuning", "o fine-tuning", False,
     "O ajuste fino: continuar o treino de um modelo pré-treinado com poucos dados de uma tarefa específica."),
    ("instruction tuning", "o instruction tuning", False,
     "O ajuste fino com pares de instrução e resposta, para o modelo aprender a seguir pedidos."),
    ("janela de contexto", "a janela de contexto", False,
     "O número máximo de tokens que o modelo consegue ler de uma vez."),
    ("temperatura", "a temperatura", False,
     "O número que divide os logits antes do softmax: abaixo de 1 a geração fica mais previsível, acima de 1, "
     "mais variada."),
    ("top-k", "a amostragem top-k", False,
     "Sortear o próximo token só entre os k tokens mais prováveis."),
    ("top-p", "a amostragem top-p", False,
     "Sortear o próximo token só entre os mais prováveis cuja probabilidade somada chega a p."),
    ("decodificação gulosa", "a decodificação gulosa", False,
     "Escolher sempre o token mais provável como o próximo, sem sorteio."),
    ("gradiente", "o gradiente", False,
     "As derivadas da perda em relação aos parâmetros: dizem como mudar cada peso para a perda diminuir."),
    ("retropropagação", "a retropropagação", False,
     "O algoritmo que calcula os gradientes da perda camada por camada, da saída para a entrada."),
    ("AdamW", "o AdamW", False,
     "Um otimizador que adapta o passo de cada parâmetro e aplica o decaimento dos pesos à parte."),
    ("taxa de aprendizado", "a taxa de aprendizado", False,
     "O tamanho do passo que o otimizador dá a cada atualização dos parâmetros."),
    ("batch", "um batch", False,
     "Um lote de exemplos processados juntos em um mesmo passo de treino."),
    ("época", "uma época", False,
     "Uma passagem completa por todos os dados de treino."),
    ("overfitting", "o overfitting", False,
     "Quando o modelo decora os dados de treino e piora em dados que nunca viu."),
    ("checkpoint", "um checkpoint", False,
     "Um arquivo com os pesos do modelo (e às vezes do otimizador), salvo para usar depois ou continuar o treino."),
    ("parâmetro", "um parâmetro", False,
     "Um número do modelo ajustado no treino, como os pesos das camadas lineares e dos embeddings."),
    ("LoRA", "o LoRA", False,
     "Um ajuste fino barato: congela os pesos originais e treina duas matrizes pequenas cujo produto é somado "
     "a eles."),
    ("KV cache", "o KV cache", False,
     "Guardar as keys e os values dos tokens já processados para não recalculá-los a cada token gerado."),
    ("quantização", "a quantização", False,
     "Guardar os pesos com menos bits, por exemplo em int8, para o modelo ocupar menos memória."),
    ("weight tying", "o weight tying", False,
     "Usar a mesma matriz nos embeddings de entrada e na camada de saída, economizando parâmetros."),
    ("stride", "o stride", False,
     "O passo entre o início de uma janela de texto e o da seguinte ao montar os exemplos de treino."),
    ("modelo de linguagem", "um modelo de linguagem", False,
     "Um modelo que dá uma probabilidade a cada possível próximo token a partir dos tokens anteriores."),
]


# =====================================================================================================
# Regras (funções puras, também usadas pelos testes)
# =====================================================================================================

def por_extenso(n: int) -> str:
    """Escreve um inteiro de 0 a 999 por extenso (forma masculina): 342 -> "trezentos e quarenta e dois"."""
    if not isinstance(n, int) or not 0 <= n <= 999:
        raise ValueError(f"por_extenso só aceita inteiros de 0 a 999, recebeu {n!r}")
    if n < 20:
        return UNIDADES[n]
    if n < 100:
        dezena, unidade = divmod(n, 10)
        return DEZENAS[dezena] + ("" if unidade == 0 else " e " + UNIDADES[unidade])
    if n == 100:
        return "cem"
    centena, resto = divmod(n, 100)
    return CENTENAS[centena] + ("" if resto == 0 else " e " + por_extenso(resto))


def conjugar(verbo: str, tempo: str, pronome: str) -> str:
    """Conjuga ``verbo`` no presente ou no pretérito perfeito do indicativo: ("falar", "presente", "nós") ->
    "nós falamos". Verbos irregulares vêm de uma tabela; os regulares seguem as terminações de -ar/-er/-ir,
    com as trocas de grafia do pretérito em "eu" (ficar -> fiquei, chegar -> cheguei, dançar -> dancei)."""
    pessoa = PRONOMES[pronome]
    if verbo in VERBOS_IRREGULARES:
        presente, preterito = VERBOS_IRREGULARES[verbo]
        forma = (presente if tempo == "presente" else preterito)[pessoa]
        return f"{pronome} {forma}"
    radical, grupo = verbo[:-2], verbo[-2:]
    terminacao = TERMINACOES[(tempo, grupo)][pessoa]
    if tempo == "pretérito perfeito" and pessoa == 0 and grupo == "ar":
        # antes de "e", o som de c, g e ç pede outra grafia
        for fim, troca in (("c", "qu"), ("g", "gu"), ("ç", "c")):
            if radical.endswith(fim):
                radical = radical[: -len(fim)] + troca
                break
    return f"{pronome} {radical}{terminacao}"


def sem_acentos(texto: str) -> str:
    """Tira os acentos e a cedilha (só para comparar palavras na ordem alfabética)."""
    decomposto = unicodedata.normalize("NFD", texto)
    return "".join(c for c in decomposto if not unicodedata.combining(c))


def chave_alfabetica(palavra: str) -> tuple[str, str]:
    """Chave da ordem alfabética do dicionário: ignora acentos e maiúsculas ("água" vem antes de "bola")."""
    return (sem_acentos(palavra).lower(), palavra)


def ordem_alfabetica(palavras: list[str]) -> list[str]:
    """Ordena palavras como no dicionário (veja ``chave_alfabetica``)."""
    return sorted(palavras, key=chave_alfabetica)


def contar_palavras(frase: str) -> int:
    """Conta as palavras de uma frase: os pedaços separados por espaço (a pontuação cola na palavra)."""
    return len(frase.split())


def _lista(itens) -> str:
    return ", ".join(str(i) for i in itens)


def _maiuscula_inicial(texto: str) -> str:
    return texto[:1].upper() + texto[1:]


# =====================================================================================================
# Geradores de cada tarefa: devolvem listas de (instrucao, entrada, saida)
# =====================================================================================================

def _plural(rng: random.Random) -> list[tuple[str, str, str]]:
    modelos = [
        lambda p: (f'Qual é o plural de "{p}"?', ""),
        lambda p: (f'Escreva o plural da palavra "{p}".', ""),
        lambda p: (f'Como fica "{p}" no plural?', ""),
        lambda p: ("Passe a palavra para o plural.", p),
        lambda p: ("Escreva esta palavra no plural.", p),
        lambda p: ("Dê o plural.", p),
    ]
    exemplos = []
    for singular, plural in PLURAIS:
        # as palavras em -ão (que podem ir para -ões, -ães ou -ãos) ganham duas formulações
        for modelo in rng.sample(modelos, 2 if singular.endswith("ão") else 1):
            instrucao, entrada = modelo(singular)
            exemplos.append((instrucao, entrada, plural))
    return exemplos


def _singular(rng: random.Random) -> list[tuple[str, str, str]]:
    modelos = [
        lambda p: (f'Qual é o singular de "{p}"?', ""),
        lambda p: (f'Escreva o singular da palavra "{p}".', ""),
        lambda p: ("Passe a palavra para o singular.", p),
        lambda p: ("Escreva esta palavra no singular.", p),
    ]
    exemplos = []
    regulares = 0
    for singular, plural in PLURAIS:
        if plural == singular + "s" and not singular.endswith("ão"):
            regulares += 1
            if regulares % 2 == 0:
                continue  # dos plurais só com "+s", basta a metade
        instrucao, entrada = rng.choice(modelos)(plural)
        exemplos.append((instrucao, entrada, singular))
    return exemplos


def _genero(rng: random.Random) -> list[tuple[str, str, str]]:
    modelos = {
        "feminino": [
            lambda p: (f'Qual é o feminino de "{p}"?', ""),
            lambda p: (f'Escreva o feminino da palavra "{p}".', ""),
            lambda p: ("Passe a palavra para o feminino.", p),
            lambda p: ("Dê o feminino.", p),
        ],
        "masculino": [
            lambda p: (f'Qual é o masculino de "{p}"?', ""),
            lambda p: (f'Escreva o masculino da palavra "{p}".', ""),
            lambda p: ("Passe a palavra para o masculino.", p),
            lambda p: ("Dê o masculino.", p),
        ],
    }
    exemplos = []
    for masculino, feminino in GENEROS:
        instrucao, entrada = rng.choice(modelos["feminino"])(masculino)
        exemplos.append((instrucao, entrada, feminino))
        instrucao, entrada = rng.choice(modelos["masculino"])(feminino)
        exemplos.append((instrucao, entrada, masculino))
    return exemplos


def _antonimo(rng: random.Random) -> list[tuple[str, str, str]]:
    modelos = [
        lambda p: (f'Qual é o antônimo de "{p}"?', ""),
        lambda p: (f'Qual é o contrário de "{p}"?', ""),
        lambda p: (f'Escreva uma palavra de sentido oposto a "{p}".', ""),
        lambda p: ("Escreva o antônimo da palavra.", p),
        lambda p: ("Dê o contrário desta palavra.", p),
    ]
    exemplos = []
    for a, b in ANTONIMOS:
        for palavra, oposta in ((a, b), (b, a)):
            instrucao, entrada = rng.choice(modelos)(palavra)
            exemplos.append((instrucao, entrada, oposta))
    return exemplos


def _conjugacao(rng: random.Random) -> list[tuple[str, str, str]]:
    modelos = [
        lambda v, t, p: (f'Conjugue o verbo "{v}" no {t} para "{p}".', ""),
        lambda v, t, p: (f'Como fica o verbo "{v}" no {t} com o pronome "{p}"?', ""),
        lambda v, t, p: (f"Conjugue o verbo no {t} do indicativo.", f"verbo: {v}; pessoa: {p}"),
        lambda v, t, p: (f'Complete com o verbo "{v}" no {t}: {p} ___.', ""),
        lambda v, t, p: (f"Escreva o pronome e o verbo no {t}.", f"{p} ({v})"),
    ]
    exemplos = []
    verbos = VERBOS_REGULARES + list(VERBOS_IRREGULARES)
    combinacoes = [(t, p) for t in ("presente", "pretérito perfeito") for p in PRONOMES]
    for verbo in verbos:
        # irregulares: dois pronomes em cada tempo; regulares: três combinações (tempo, pronome) sorteadas
        if verbo in VERBOS_IRREGULARES:
            escolhas = [(t, p) for t in ("presente", "pretérito perfeito") for p in rng.sample(list(PRONOMES), 2)]
        else:
            escolhas = rng.sample(combinacoes, 3)
        for tempo, pronome in escolhas:
            instrucao, entrada = rng.choice(modelos)(verbo, tempo, pronome)
            exemplos.append((instrucao, entrada, conjugar(verbo, tempo, pronome)))
    return exemplos


def _numero_por_extenso(rng: random.Random) -> list[tuple[str, str, str]]:
    para_extenso = [
        lambda n: (f"Escreva o número {n} por extenso.", ""),
        lambda n: (f"Como se escreve {n} por extenso?", ""),
        lambda n: ("Escreva por extenso.", str(n)),
        lambda n: ("Escreva este número por extenso.", str(n)),
    ]
    para_algarismos = [
        lambda e: ("Escreva o número em algarismos.", e),
        lambda e: (f'Escreva "{e}" em algarismos.', ""),
        lambda e: (f'Qual número é "{e}"? Responda com algarismos.', ""),
    ]
    exemplos = []
    # todos de 0 a 100, mais uma amostra das centenas (com alguns casos que os testes conferem à mão)
    fixos = [101, 110, 115, 200, 342, 500, 999]
    outros = [n for n in range(101, 1000) if n not in fixos]
    numeros = list(range(0, 101)) + fixos + sorted(rng.sample(outros, 60))
    for n in numeros:
        instrucao, entrada = rng.choice(para_extenso)(n)
        exemplos.append((instrucao, entrada, por_extenso(n)))
    fixos_volta = [100, 101, 342]
    outros_volta = [n for n in range(0, 1000) if n not in fixos_volta]
    for n in fixos_volta + sorted(rng.sample(outros_volta, 67)):
        instrucao, entrada = rng.choice(para_algarismos)(por_extenso(n))
        exemplos.append((instrucao, entrada, str(n)))
    return exemplos


def _conta(rng: random.Random) -> list[tuple[str, str, str]]:
    # cada modelo: (função que monta instrução/entrada, a resposta vai por extenso?)
    nome = {"+": "mais", "-": "menos"}
    modelos = [
        (lambda a, o, b: (f"Quanto é {a} {o} {b}?", ""), False),
        (lambda a, o, b: (f"Calcule {a} {o} {b}.", ""), False),
        (lambda a, o, b: ("Calcule.", f"{a} {o} {b}"), False),
        (lambda a, o, b: ("Resolva a conta e responda com algarismos.", f"{a} {o} {b}"), False),
        (lambda a, o, b: (f"Quanto é {a} {nome[o]} {b}?", ""), False),
        (lambda a, o, b: ((f"Some {a} e {b}." if o == "+" else f"Subtraia {b} de {a}."), ""), False),
        (lambda a, o, b: (f"Quanto é {por_extenso(a)} {nome[o]} {por_extenso(b)}?", ""), True),
        (lambda a, o, b: (f"Calcule {a} {o} {b} e responda por extenso.", ""), True),
        (lambda a, o, b: ("Resolva e escreva o resultado por extenso.", f"{a} {o} {b}"), True),
    ]
    contas = [(a, "+", b) for a in range(0, 101) for b in range(0, 101 - a)]
    contas += [(a, "-", b) for a in range(0, 101) for b in range(0, a + 1)]
    # 7 + 8 entra de propósito nas duas formas (os testes conferem "15" e "quinze")
    escolhidas = [((7, "+", 8), modelos[0]), ((7, "+", 8), modelos[6])]
    for conta in rng.sample(contas, 170):
        escolhidas.append((conta, rng.choice(modelos)))
    exemplos = []
    for (a, o, b), (modelo, extenso) in escolhidas:
        resultado = a + b if o == "+" else a - b
        instrucao, entrada = modelo(a, o, b)
        exemplos.append((instrucao, entrada, por_extenso(resultado) if extenso else str(resultado)))
    return exemplos


def _palavras_simples() -> list[str]:
    """Palavras sem hífen para as tarefas de ordem, inversão e letras, sem duas com a mesma chave
    alfabética (por exemplo "avô" e "avó"), para a ordem ter uma só resposta."""
    candidatas = [s for s, _ in PLURAIS] + [m for m, _ in GENEROS] + [f for _, f in GENEROS] + PALAVRAS_EXTRAS
    vistas, palavras = {}, []
    for p in candidatas:
        if "-" in p or " " in p or p in NAO_SUBSTANTIVOS:
            continue
        chave = sem_acentos(p).lower()
        if chave not in vistas:
            vistas[chave] = p
            palavras.append(p)
    return palavras


def _ordenar(rng: random.Random) -> list[tuple[str, str, str]]:
    palavras = _palavras_simples()
    exemplos = []
    for i in range(100):
        tipo = i % 5
        if tipo in (0, 1, 2):
            itens = rng.sample(palavras, rng.randint(3, 5))
            ordenadas = ordem_alfabetica(itens)
            if tipo == 0:
                exemplos.append(("Coloque as palavras em ordem alfabética.", _lista(itens), _lista(ordenadas)))
            elif tipo == 1:
                exemplos.append((f"Ordene em ordem alfabética: {_lista(itens)}.", "", _lista(ordenadas)))
            elif rng.random() < 0.5:
                exemplos.append(("Qual destas palavras vem primeiro na ordem alfabética?", _lista(itens),
                                 ordenadas[0]))
            else:
                exemplos.append(("Qual destas palavras vem por último na ordem alfabética?", _lista(itens),
                                 ordenadas[-1]))
        else:
            numeros = rng.sample(range(0, 100), rng.randint(3, 6))
            if tipo == 3:
                exemplos.append(("Ordene os números do menor para o maior.", _lista(numeros),
                                 _lista(sorted(numeros))))
            else:
                exemplos.append(("Ordene os números do maior para o menor.", _lista(numeros),
                                 _lista(sorted(numeros, reverse=True))))
    return exemplos


def _inverter(rng: random.Random) -> list[tuple[str, str, str]]:
    palavras = _palavras_simples()
    modelos = [
        lambda lista: ("Inverta a ordem dos itens da lista.", lista),
        lambda lista: (f"Escreva a lista em ordem inversa: {lista}.", ""),
        lambda lista: ("Escreva os itens de trás para frente, do último para o primeiro.", lista),
    ]
    exemplos = []
    for i in range(80):
        # uma lista em cada três é de números; as outras, de palavras
        itens = rng.sample(range(0, 100), rng.randint(3, 6)) if i % 3 == 2 else rng.sample(palavras, rng.randint(3, 5))
        instrucao, entrada = rng.choice(modelos)(_lista(itens))
        exemplos.append((instrucao, entrada, _lista(reversed(itens))))
    return exemplos


def _contar_letras(rng: random.Random) -> list[tuple[str, str, str]]:
    modelos = [
        lambda p: (f'Quantas letras tem a palavra "{p}"?', ""),
        lambda p: (f'Quantas letras há em "{p}"?', ""),
        lambda p: ("Conte as letras da palavra.", p),
        lambda p: ("Quantas letras tem esta palavra?", p),
    ]
    exemplos = []
    for p in rng.sample(_palavras_simples(), 100):
        instrucao, entrada = rng.choice(modelos)(p)
        exemplos.append((instrucao, entrada, str(len(p))))
    return exemplos


def _frases_sem_hifen() -> list[str]:
    frases = AFIRMACOES + PERGUNTAS + FRASES_POSITIVAS + FRASES_NEGATIVAS
    return [f for f in frases if "-" not in f]


def _contar_palavras(rng: random.Random) -> list[tuple[str, str, str]]:
    modelos = [
        lambda f: ("Quantas palavras tem esta frase?", f),
        lambda f: ("Conte as palavras da frase.", f),
        lambda f: (f"Quantas palavras há na frase: {f}", ""),
    ]
    exemplos = []
    for f in rng.sample(_frases_sem_hifen(), 100):
        instrucao, entrada = rng.choice(modelos)(f)
        exemplos.append((instrucao, entrada, str(contar_palavras(f))))
    return exemplos


def _primeira_ultima_letra(rng: random.Random) -> list[tuple[str, str, str]]:
    primeira = [
        lambda p: (f'Qual é a primeira letra da palavra "{p}"?', ""),
        lambda p: (f'Com que letra começa "{p}"?', ""),
        lambda p: ("Diga a primeira letra da palavra.", p),
    ]
    ultima = [
        lambda p: (f'Qual é a última letra da palavra "{p}"?', ""),
        lambda p: (f'Com que letra termina "{p}"?', ""),
        lambda p: ("Diga a última letra da palavra.", p),
    ]
    exemplos = []
    for i, p in enumerate(rng.sample(_palavras_simples(), 100)):
        if i % 2 == 0:
            instrucao, entrada = rng.choice(primeira)(p)
            exemplos.append((instrucao, entrada, p[0]))
        else:
            instrucao, entrada = rng.choice(ultima)(p)
            exemplos.append((instrucao, entrada, p[-1]))
    return exemplos


def _sentimento(rng: random.Random) -> list[tuple[str, str, str]]:
    modelos = [
        lambda f: ("Classifique o sentimento da frase como positivo ou negativo.", f),
        lambda f: ("O sentimento desta frase é positivo ou negativo?", f),
        lambda f: (f'A frase "{f}" tem sentimento positivo ou negativo?', ""),
    ]
    rotuladas = [(f, "positivo") for f in FRASES_POSITIVAS] + [(f, "negativo") for f in FRASES_NEGATIVAS]
    modeladas = []
    for sujeito, genero in SUJEITOS_OPINIAO:
        for verbo in ("foi", "estava"):
            for adjetivos, rotulo in ((ADJETIVOS_POSITIVOS, "positivo"), (ADJETIVOS_NEGATIVOS, "negativo")):
                for masc, fem in adjetivos:
                    adjetivo = masc if genero == "m" else fem
                    modeladas.append((_maiuscula_inicial(f"{sujeito} {verbo} {adjetivo}."), rotulo))
    rotuladas += rng.sample(modeladas, 60)
    exemplos = []
    for frase, rotulo in rotuladas:
        instrucao, entrada = rng.choice(modelos)(frase)
        exemplos.append((instrucao, entrada, rotulo))
    return exemplos


def _pergunta_ou_afirmacao(rng: random.Random) -> list[tuple[str, str, str]]:
    modelos = [
        lambda f: ("Esta frase é uma pergunta ou uma afirmação?", f),
        lambda f: ("Classifique a frase como pergunta ou afirmação.", f),
        lambda f: (f'A frase "{f}" é uma pergunta ou uma afirmação?', ""),
    ]
    afirmacoes = AFIRMACOES + [f for f in FRASES_POSITIVAS + FRASES_NEGATIVAS if f.endswith(".")][::3]
    rotuladas = [(f, "pergunta") for f in PERGUNTAS] + [(f, "afirmação") for f in afirmacoes]
    exemplos = []
    for frase, rotulo in rotuladas:
        instrucao, entrada = rng.choice(modelos)(frase)
        exemplos.append((instrucao, entrada, rotulo))
    return exemplos


def _expressoes() -> list[tuple[str, str]]:
    """Pares (singular, plural) de expressões com artigo + substantivo + adjetivo, e de frases com verbo."""
    artigos = {"m": (("o", "os"), ("um", "uns")), "f": (("a", "as"), ("uma", "umas"))}
    indice = {("m", False): 0, ("f", False): 1, ("m", True): 2, ("f", True): 3}
    pares = []
    for substantivos, adjetivos in ((COISAS, ADJETIVOS_COISAS), (SERES, ADJETIVOS_SERES)):
        for genero, sing, plur in substantivos:
            for adjetivo in adjetivos:
                for art_s, art_p in artigos[genero]:
                    pares.append((f"{art_s} {sing} {adjetivo[indice[(genero, False)]]}",
                                  f"{art_p} {plur} {adjetivo[indice[(genero, True)]]}"))
    for genero, sing, plur in SERES:
        for verbo_s, verbo_p in VERBOS_SERES:
            art_s, art_p = artigos[genero][0]
            pares.append((f"{art_s} {sing} {verbo_s}", f"{art_p} {plur} {verbo_p}"))
    return pares


def _reescrita(rng: random.Random) -> list[tuple[str, str, str]]:
    exemplos = []
    frases = AFIRMACOES + FRASES_POSITIVAS + FRASES_NEGATIVAS
    for f in rng.sample(frases, 35):
        if rng.random() < 0.5:
            exemplos.append(("Escreva a frase em letras maiúsculas.", f, f.upper()))
        else:
            exemplos.append((f"Reescreva em letras maiúsculas: {f}", "", f.upper()))
    for f in rng.sample(frases, 20):
        exemplos.append(("Escreva a frase só com letras minúsculas.", f.upper(), f.lower()))
    pares = _expressoes()
    para_plural = [
        lambda e: ("Passe a expressão para o plural.", e),
        lambda e: (f"Reescreva no plural: {e}", ""),
        lambda e: ("Reescreva a expressão no plural, fazendo a concordância de todas as palavras.", e),
    ]
    for singular, plural in rng.sample(pares, 60):
        instrucao, entrada = rng.choice(para_plural)(singular)
        exemplos.append((instrucao, entrada, plural))
    para_singular = [
        lambda e: ("Passe a expressão para o singular.", e),
        lambda e: (f"Reescreva no singular: {e}", ""),
    ]
    for singular, plural in rng.sample(pares, 30):
        instrucao, entrada = rng.choice(para_singular)(plural)
        exemplos.append((instrucao, entrada, singular))
    return exemplos


def _glossario(rng: random.Random) -> list[tuple[str, str, str]]:
    modelos = [
        lambda t, a, plural: (f"O que {'são' if plural else 'é'} {a}?", ""),
        lambda t, a, plural: (f"Explique em uma frase o que {'são' if plural else 'é'} {a}.", ""),
        lambda t, a, plural: (f'No curso, o que quer dizer "{t}"?', ""),
        lambda t, a, plural: ("Defina este termo do curso em uma frase.", t),
        lambda t, a, plural: ("O que significa este termo de modelos de linguagem?", t),
    ]
    exemplos = []
    for termo, com_artigo, plural, definicao in GLOSSARIO:
        for modelo in rng.sample(modelos, 4):
            instrucao, entrada = modelo(termo, com_artigo, plural)
            exemplos.append((instrucao, entrada, definicao))
    return exemplos


GERADORES = {
    "plural": _plural,
    "singular": _singular,
    "genero": _genero,
    "antonimo": _antonimo,
    "conjugacao": _conjugacao,
    "numero_por_extenso": _numero_por_extenso,
    "conta": _conta,
    "ordenar": _ordenar,
    "inverter": _inverter,
    "contar_letras": _contar_letras,
    "contar_palavras": _contar_palavras,
    "primeira_ultima_letra": _primeira_ultima_letra,
    "sentimento": _sentimento,
    "pergunta_ou_afirmacao": _pergunta_ou_afirmacao,
    "reescrita": _reescrita,
    "glossario": _glossario,
}


# =====================================================================================================
# Montagem, divisão e gravação
# =====================================================================================================

def _conferir_listas() -> None:
    """Falha cedo se alguma lista tiver resposta ambígua (a mesma palavra com duas respostas)."""
    def unicas(valores, nome):
        repetidas = sorted({v for v in valores if valores.count(v) > 1})
        if repetidas:
            raise ValueError(f"{nome}: palavras repetidas {repetidas}")

    unicas([s for s, _ in PLURAIS], "PLURAIS (singular)")
    unicas([p for _, p in PLURAIS], "PLURAIS (plural)")
    unicas([m for m, _ in GENEROS] + [f for _, f in GENEROS], "GENEROS")
    unicas([p for par in ANTONIMOS for p in par], "ANTONIMOS")
    unicas(VERBOS_REGULARES + list(VERBOS_IRREGULARES), "verbos")
    unicas([t for t, *_ in GLOSSARIO], "GLOSSARIO")


def gerar_exemplos() -> list[dict]:
    """Gera todos os exemplos, já com a divisão treino/teste. Função pura e determinística: cada tarefa usa o
    seu próprio ``random.Random`` com semente fixa, e a divisão usa ``random.Random(SEMENTE_DIVISAO)``."""
    _conferir_listas()
    vistos: dict[tuple[str, str], str] = {}
    por_tarefa: dict[str, list[tuple[str, str, str]]] = {}
    for tarefa in TAREFAS:
        rng = random.Random(f"cap07-{tarefa}")
        lista = []
        for instrucao, entrada, saida in GERADORES[tarefa](rng):
            instrucao, entrada, saida = (unicodedata.normalize("NFC", t).strip() for t in (instrucao, entrada, saida))
            chave = (instrucao, entrada)
            if chave in vistos:
                if vistos[chave] != saida:
                    raise ValueError(f"pedido repetido com respostas diferentes: {chave} -> "
                                     f"{vistos[chave]!r} / {saida!r}")
                continue  # o mesmo exemplo sorteado duas vezes: fica só o primeiro
            if not instrucao or not saida:
                raise ValueError(f"exemplo sem instrução ou sem resposta em {tarefa}: {chave}")
            if len(instrucao) + len(entrada) + len(saida) > LIMITE_CARACTERES:
                raise ValueError(f"exemplo longo demais em {tarefa}: {chave}")
            vistos[chave] = saida
            lista.append((instrucao, entrada, saida))
        por_tarefa[tarefa] = lista

    rng_divisao = random.Random(SEMENTE_DIVISAO)
    exemplos = []
    for tarefa in TAREFAS:
        lista = por_tarefa[tarefa]
        n_teste = max(1, round(FRACAO_TESTE * len(lista)))
        indices = list(range(len(lista)))
        rng_divisao.shuffle(indices)
        teste = set(indices[:n_teste])
        for i, (instrucao, entrada, saida) in enumerate(lista):
            exemplos.append({
                "instrucao": instrucao,
                "entrada": entrada,
                "saida": saida,
                "tarefa": tarefa,
                "divisao": "teste" if i in teste else "treino",
            })
    return exemplos


def serializar(exemplos: list[dict]) -> str:
    """O texto exato gravado em ``instrucoes.json`` (UTF-8, sem escapar acentos, indentação 1)."""
    return json.dumps(exemplos, **OPCOES_JSON) + "\n"


def contar(exemplos: list[dict]) -> dict[str, dict[str, int]]:
    """Quantos exemplos cada tarefa tem em cada divisão."""
    contagem = {t: {"treino": 0, "teste": 0} for t in TAREFAS}
    for e in exemplos:
        contagem[e["tarefa"]][e["divisao"]] += 1
    return contagem


def main(destino: Path | str | None = None) -> Path:
    """Gera os exemplos, grava o JSON (por padrão ``instrucoes.json`` ao lado deste script) e imprime as contagens."""
    destino = Path(destino) if destino is not None else ARQUIVO
    exemplos = gerar_exemplos()
    with open(destino, "w", encoding="utf-8", newline="\n") as arquivo:
        arquivo.write(serializar(exemplos))
    contagem = contar(exemplos)
    print(f"{'tarefa':<24}{'treino':>8}{'teste':>8}{'total':>8}")
    for tarefa, c in contagem.items():
        print(f"{tarefa:<24}{c['treino']:>8}{c['teste']:>8}{c['treino'] + c['teste']:>8}")
    treino = sum(c["treino"] for c in contagem.values())
    teste = sum(c["teste"] for c in contagem.values())
    print(f"{'total':<24}{treino:>8}{teste:>8}{treino + teste:>8}")
    print(f"gravado em {destino} ({destino.stat().st_size / 1024:.0f} KB)")
    return destino


if __name__ == "__main__":
    main()
