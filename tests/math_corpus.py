"""Math as a model writes it: valid, half-written, broken and hostile. Each entry ends with
a bold word, which must survive whatever the formula did."""

VALID = [
    r"Euler: $e^{i\pi} + 1 = 0$ **after**",
    r"Inline brackets \(\frac{a}{b}\) **after**",
    "Display:\n\n$$\\sum_{i=0}^{n} i = \\frac{n(n+1)}{2}$$\n\n**after**",
    "Display brackets:\n\n\\[\\int_0^1 x^2\\,dx = \\tfrac13\\]\n\n**after**",
    r"Mid-sentence, as models write it: \[E = mc^2\] **after**",
    r"A matrix $\begin{pmatrix}1 & 2\\ 3 & 4\end{pmatrix}$ **after**",
    r"Roots $\sqrt[3]{x}$ and $\mathbb{R}$ **after**",
    "Steps:\n\n$$\\begin{aligned} x &= 1 + 1 \\\\ &= 2 \\end{aligned}$$\n\n**after**",
    "Lines:\n\n$$\\begin{gather} a = b \\\\ c = d \\end{gather}$$\n\n**after**",
    r"The answer is $\boxed{42}$ **after**",
]
BROKEN = [
    r"Half-written $\frac{a}{ **after**",
    "Unclosed display\n\n$$\\begin{matrix} 1 & 2\n\n**after**",
    r"Prices $5 and $10 stay text **after**",
    r"An error $\frac{$ **after**",
    "A formula, then a line in brackets:\n\n\\[a\\]\n(x) **after**",
]
HOSTILE = [
    r"$\href{javascript:alert(1)}{click}$ **after**",
    r"$$\href{https://evil.example/x}{y}$$ **after**",
    r"$\text{<img src=x onerror=alert(1)>}$ **after**",
    r"$\text{</math><img src=x onerror=alert(1)>}$ **after**",
    r"\(\style{background:url(https://evil.example/x)}{x}\) **after**",
    r"$\htmlClass{x}{y} \htmlId{z}{w} \htmlData{a=b}{c}$ **after**",
    r"$\unicode{<script>alert(1)</script>}$ **after**",
    r"$\color{red}{x} \class{y}{z}$ **after**",
    "$" + "{" * 5000 + "x" + "}" * 5000 + "$ **after**",
    "$$\\begin{matrix}" + "\\\\".join(["&".join(["x"] * 60)] * 60) + "\\end{matrix}$$\n\n**after**",
    r"$\def\a{\a\a}\a$ **after**",
    "".join(f"$x_{{{i}}}$ " for i in range(3000)) + "**after**",
]
CORPUS = VALID + BROKEN + HOSTILE
