"""The page's style sheet and script, as strings Gradio injects (`gr.Blocks(css=, js=)`).

The script makes a click on [n] open and focus the sentence the answer sentence rests on
(see `render.py` for the ids and classes it reads); the styles keep the page readable at
desktop and phone widths. Building the page is `app.py`'s.
"""

from __future__ import annotations

CSS = """
.src-card {border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 10px; margin: 8px 0;}
.src-card.active {outline: 3px solid var(--color-accent); outline-offset: 1px;}
.src-head {font-weight: 600;}
.src-meta {font-size: .85em; opacity: .8; margin: 2px 0 6px; overflow-wrap: anywhere;}
.src-text {white-space: pre-wrap; font-size: .92em; line-height: 1.45;}
mark.support {background: #fde68a; color: #111; padding: 0 2px; border-radius: 3px;}
mark.support.focus {background: #fb923c; color: #111; outline: 2px solid #c2410c;
  box-shadow: 0 0 0 3px rgba(194, 65, 12, .25);}
.src-weak {color: #b45309; font-size: .85em;}
a.back {display: inline-block; margin: 6px 0 2px; font-size: .88em; font-weight: 600;
  padding: 4px 0;}
.src-turn > summary {cursor: pointer; font-weight: 600; margin-top: 6px;}
.ans-sent.flash {background: #fef3c7; border-radius: 3px; transition: background .4s;}
.unsupported {text-decoration: underline wavy #dc2626; text-underline-offset: 3px;}
.unsupported-flag {color: #dc2626; font-size: .8em; white-space: nowrap;}
a.cite {text-decoration: none; font-weight: 600;}
.answer-note {font-size: .8em; opacity: .75;}
.why-note {display: block; font-size: .9em; color: #92400e;}
.article-count {font-size: .95em; opacity: .85;}
#articles {overflow-x: hidden;}
table.articles {width: 100%; table-layout: fixed; border-collapse: collapse; font-size: .85em;}
table.articles th, table.articles td {padding: 3px 5px; text-align: left; vertical-align: top;
  overflow-wrap: break-word; border-bottom: 1px solid var(--border-color-primary);}
table.articles th {white-space: nowrap; overflow: hidden; font-size: .95em;}
table.articles .num {text-align: right;}
table.articles code {font-size: .92em;}
col.c-date {width: 6.6em;} col.c-outlet {width: 20%;} col.c-chunks {width: 5.4em;}
col.c-id {width: 7.4em;}
@media (max-width: 640px) {
  table.articles {font-size: .78em;}
  table.articles th, table.articles td {padding: 2px 3px;}
  col.c-date {width: 4.5em;} col.c-outlet {width: 19%;} col.c-chunks {width: 5em;}
  col.c-id {width: 4.1em;}
}
#chips .gallery-item, #chips button {text-align: left;}
"""

# A click on [n] opens its card, focuses the sentence(s) that answer sentence rests on
# (mark.focus) and points the card's back link at the answer sentence.
JS = """
() => {
  const show = (el) => el.scrollIntoView({behavior: 'smooth', block: 'center'});
  const sentenceOf = (link) => {
    const own = link.closest('.ans-sent');
    return own ? own.id.split('-').pop() : null;
  };
  const openSource = (link) => {
    const card = document.getElementById(link.getAttribute('href').split('#').pop());
    if (!card) return false;
    for (let d = card.closest('details'); d; d = d.parentElement.closest('details')) d.open = true;
    document.querySelectorAll('.src-card.active').forEach((el) => el.classList.remove('active'));
    document.querySelectorAll('mark.support.focus').forEach((el) => el.classList.remove('focus'));
    card.classList.add('active');
    const sent = sentenceOf(link);
    card.querySelectorAll('mark.support').forEach((m) => {
      const rests = (m.dataset.for || '').split(' ');
      if (sent !== null && rests.includes(sent)) m.classList.add('focus');
    });
    const back = card.querySelector('a.back');
    if (back && sent !== null) {
      const turn = card.id.split('-')[1];
      back.dataset.back = `ans-${turn}-${sent}`;
      back.setAttribute('href', `#ans-${turn}-${sent}`);
    }
    show(card.querySelector('.src-passages mark.focus') || card);
    return true;
  };
  const backToAnswer = (link) => {
    const target = document.getElementById(link.dataset.back || '');
    if (!target) return false;
    show(target);
    target.classList.add('flash');
    setTimeout(() => target.classList.remove('flash'), 2000);
    return true;
  };
  document.addEventListener('click', (event) => {
    if (!event.target.closest) return;
    const cite = event.target.closest('a.cite');
    const back = event.target.closest('a.back');
    const done = cite ? openSource(cite) : back ? backToAnswer(back) : false;
    if (done) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);
}
"""
