// Typeset the math of every page with KaTeX (bundled under assets/katex/, no CDN).
// pymdownx.arithmatex (generic mode) leaves $...$ as \(...\) and $$...$$ as \[...\] inside
// elements of class "arithmatex"; auto-render turns them into KaTeX's HTML.
(function () {
  function typeset() {
    var blocks = document.querySelectorAll(".arithmatex");
    for (var i = 0; i < blocks.length; i++) {
      renderMathInElement(blocks[i], {
        delimiters: [
          { left: "\\(", right: "\\)", display: false },
          { left: "\\[", right: "\\]", display: true },
        ],
        throwOnError: false,
      });
    }
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(typeset);  // Material's page-load stream (instant navigation too)
  } else {
    document.addEventListener("DOMContentLoaded", typeset);
  }
})();
