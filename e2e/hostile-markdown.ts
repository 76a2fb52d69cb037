/**
 * A corpus of hostile model output: markup that would make a browser fetch a URL on its own
 * (zero-click exfiltration), run script, or pass for the page's own UI. Used by
 * e2e/exfiltration.test.ts against the real renderer and the real <llm-chat>.
 *
 * `LEAK` stands for the leak server's base URL (http://127.0.0.1:port/some-prefix), `LEAKHOST` for
 * the same without the scheme, and `SCRIPT` for a statement that marks the page as compromised;
 * `payloads()` fills them in. Every URL has its own path so a request names the payload that leaked.
 */

interface Payload {
  name: string;
  markdown: string;
}

/** URL-bearing attributes and elements, one payload each (HTML inside markdown). */
const URL_PAYLOADS: Record<string, string> = {
  // background, the attribute the review found, on every element that honours it.
  'table-background': '<table background="LEAK/table-background"><tr><td>x</td></tr></table>',
  'td-background': '<table><tr><td background="LEAK/td-background">x</td></tr></table>',
  'th-background': '<table><tr><th background="LEAK/th-background">x</th></tr></table>',
  'tr-background': '<table><tr background="LEAK/tr-background"><td>x</td></tr></table>',
  'tbody-background': '<table><tbody background="LEAK/tbody-background"><tr><td>x</td></tr></tbody></table>',
  'thead-background': '<table><thead background="LEAK/thead-background"><tr><th>x</th></tr></thead></table>',
  'tfoot-background': '<table><tfoot background="LEAK/tfoot-background"><tr><td>x</td></tr></tfoot></table>',
  'body-background': '<body background="LEAK/body-background">x</body>',
  'div-background': '<div background="LEAK/div-background">x</div>',
  // src / srcset and their legacy siblings.
  'img-src': '<img src="LEAK/img-src">',
  'img-srcset': '<img srcset="LEAK/img-srcset 1x">',
  'img-lowsrc': '<img lowsrc="LEAK/img-lowsrc" src="data:,">',
  'img-dynsrc': '<img dynsrc="LEAK/img-dynsrc">',
  'img-longdesc': '<img longdesc="LEAK/img-longdesc" src="data:,">',
  'img-usemap': '<img usemap="LEAK/img-usemap#m" src="data:,">',
  'image-tag': '<image src="LEAK/image-tag">',
  'img-lazy': '<img loading="lazy" src="LEAK/img-lazy">',
  'img-relative': '<img src="/leak-relative/img">',
  'img-protocol-relative': '<img src="//LEAKHOST/img-protocol-relative">',
  'img-entity-url': '<img src="&#x68;ttp://LEAKHOST/img-entity-url">',
  'picture-source-srcset': '<picture><source srcset="LEAK/picture-source-srcset"><img src="data:,"></picture>',
  'video-poster': '<video poster="LEAK/video-poster"></video>',
  'video-src': '<video src="LEAK/video-src" autoplay></video>',
  'video-source-src': '<video autoplay><source src="LEAK/video-source-src"></video>',
  'audio-src': '<audio src="LEAK/audio-src" autoplay></audio>',
  'audio-source-src': '<audio autoplay><source src="LEAK/audio-source-src"></audio>',
  'track-src': '<video src="data:," autoplay><track default src="LEAK/track-src"></video>',
  'input-image-src': '<input type="image" src="LEAK/input-image-src">',
  'iframe-src': '<iframe src="LEAK/iframe-src"></iframe>',
  'iframe-srcdoc': '<iframe srcdoc="&lt;img src=&quot;LEAK/iframe-srcdoc&quot;&gt;"></iframe>',
  'frame-longdesc': '<frameset><frame longdesc="LEAK/frame-longdesc"></frameset><iframe longdesc="LEAK/iframe-longdesc"></iframe>',
  'object-usemap': '<object usemap="LEAK/object-usemap#m"></object>',
  'declarative-shadow-dom': '<div><template shadowrootmode="open"><img src="LEAK/declarative-shadow-dom"></template></div>',
  'frame-src': '<frameset><frame src="LEAK/frame-src"></frameset>',
  'object-data': '<object data="LEAK/object-data"></object>',
  'object-codebase': '<object codebase="LEAK/object-codebase" classid="clsid:x" archive="LEAK/object-archive"></object>',
  'object-classid': '<object classid="LEAK/object-classid"></object>',
  'object-param': '<object><param name="movie" value="LEAK/object-param"></object>',
  'embed-src': '<embed src="LEAK/embed-src">',
  'embed-code': '<embed code="LEAK/embed-code">',
  'applet-code': '<applet code="LEAK/applet-code" archive="LEAK/applet-archive" codebase="LEAK/applet-codebase"></applet>',
  'script-src': '<script src="LEAK/script-src"></script>',
  'script-module': '<script type="module" src="LEAK/script-module"></script>',
  'bgsound-src': '<bgsound src="LEAK/bgsound-src">',
  'portal-src': '<portal src="LEAK/portal-src"></portal>',
  'fencedframe-src': '<fencedframe src="LEAK/fencedframe-src"></fencedframe>',
  'layer-src': '<layer src="LEAK/layer-src"></layer><ilayer src="LEAK/ilayer-src"></ilayer>',
  // Document-level URLs.
  'link-stylesheet': '<link rel="stylesheet" href="LEAK/link-stylesheet">',
  'link-prefetch': '<link rel="prefetch" href="LEAK/link-prefetch">',
  'link-preload': '<link rel="preload" as="image" href="LEAK/link-preload">',
  'link-modulepreload': '<link rel="modulepreload" href="LEAK/link-modulepreload">',
  'link-prerender': '<link rel="prerender" href="LEAK/link-prerender">',
  'link-dns-prefetch': '<link rel="dns-prefetch preconnect" href="LEAK/link-preconnect">',
  'link-icon': '<link rel="icon" href="LEAK/link-icon">',
  'link-manifest': '<link rel="manifest" href="LEAK/link-manifest">',
  'link-imagesrcset': '<link rel="preload" as="image" imagesrcset="LEAK/link-imagesrcset 1x">',
  'link-alternate': '<link rel="alternate stylesheet" href="LEAK/link-alternate">',
  'meta-refresh': '<meta http-equiv="refresh" content="0; url=LEAK/meta-refresh">',
  'base-href': '<base href="LEAK/base/"><img src="base-relative">',
  'html-manifest': '<html manifest="LEAK/html-manifest"></html>',
  'head-profile': '<head profile="LEAK/head-profile"></head>',
  'isindex-action': '<isindex action="LEAK/isindex-action">',
  // Attributes that take a URL but only fetch on interaction: still must not survive.
  'form-action': '<form action="LEAK/form-action"><button>go</button></form>',
  'button-formaction': '<button formaction="LEAK/button-formaction">go</button>',
  'input-formaction': '<input type="submit" formaction="LEAK/input-formaction">',
  'a-ping': '<a href="https://example.com/" ping="LEAK/a-ping">x</a>',
  'area-href': '<map name="m"><area shape="rect" coords="0,0,9,9" href="LEAK/area-href" ping="LEAK/area-ping"></map>',
  'blockquote-cite': '<blockquote cite="LEAK/blockquote-cite">x</blockquote>',
  'q-cite': '<q cite="LEAK/q-cite">x</q>',
  'del-ins-cite': '<del cite="LEAK/del-cite">x</del><ins cite="LEAK/ins-cite">y</ins>',
  'a-download': '<a href="LEAK/a-download" download="x.txt">x</a>',
  'div-href': '<div href="LEAK/div-href">x</div>',
  'p-src': '<p src="LEAK/p-src">x</p>',
  'icon-attr': '<command icon="LEAK/command-icon">x</command><menuitem icon="LEAK/menuitem-icon">',
  // CSS.
  'style-attr-url': '<div style="background-image:url(LEAK/style-attr-url)">x</div>',
  'style-attr-list': '<ul style="list-style-image:url(LEAK/style-attr-list)"><li>x</li></ul>',
  'style-attr-border-image': '<p style="border-image:url(LEAK/style-attr-border-image) 30 round">x</p>',
  'style-attr-escaped': '<p style="background:u\\72l(LEAK/style-attr-escaped)">x</p>',
  'style-tag-url': '<style>p{background:url(LEAK/style-tag-url)}</style><p>x</p>',
  'style-import': '<style>@import url("LEAK/style-import");</style>',
  'style-font-face': '<style>@font-face{font-family:x;src:url(LEAK/style-font-face)}p{font-family:x}</style><p>x</p>',
  'style-attr-image-set': '<div style="background-image:image-set(\'LEAK/style-attr-image-set\' 1x)">x</div>',
  'style-attr-content': '<p style="content:url(LEAK/style-attr-content)">x</p><p style="mask-image:url(LEAK/style-attr-mask)">y</p>',
  'style-attr-cursor': '<p style="cursor:url(LEAK/style-attr-cursor),auto">x</p>',
  'style-tag-namespace': '<style>@namespace url(LEAK/style-tag-namespace); p::before{content:url(LEAK/style-tag-before)}</style><p>x</p>',
  // SVG and MathML.
  'svg-image-href': '<svg><image href="LEAK/svg-image-href" width="9" height="9"/></svg>',
  'svg-image-xlink':
    '<svg xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="LEAK/svg-image-xlink" width="9" height="9"/></svg>',
  'svg-use-href': '<svg><use href="LEAK/svg-use-href#x"/></svg>',
  'svg-feimage': '<svg><filter id="f"><feImage href="LEAK/svg-feimage"/></filter><rect filter="url(#f)" width="9" height="9"/></svg>',
  'svg-script-href': '<svg><script href="LEAK/svg-script-href"></script></svg>',
  'svg-style-import': '<svg><style>@import url(LEAK/svg-style-import);</style></svg>',
  'svg-fill-url': '<svg><rect width="9" height="9" fill="url(LEAK/svg-fill-url#p)"/></svg>',
  'svg-pattern-href': '<svg><defs><pattern id="p" href="LEAK/svg-pattern-href#q"/></defs><rect fill="url(#p)" width="9" height="9"/></svg>',
  'svg-style-attr': '<svg style="background:url(LEAK/svg-style-attr)"><rect width="9" height="9"/></svg>',
  'svg-font-face-uri': '<svg><font-face><font-face-src><font-face-uri href="LEAK/svg-font-face-uri"/></font-face-src></font-face></svg>',
  'svg-a-href': '<svg><a href="LEAK/svg-a-href"><text y="9">x</text></a></svg>',
  'math-href': '<math href="LEAK/math-href"><mi>x</mi></math>',
  // Mutation XSS: markup that changes meaning when serialized and parsed again.
  'mxss-noscript': '<noscript><p title="</noscript><img src=LEAK/mxss-noscript>"></noscript>',
  'mxss-template': '<template><img src="LEAK/mxss-template"></template>',
  'mxss-svg-style': '<svg><style><img src="LEAK/mxss-svg-style"></style></svg>',
  'mxss-math-mglyph': '<math><mtext><table><mglyph><style><img src="LEAK/mxss-math-mglyph">',
  'mxss-form-math': '<form><math><mtext></form><form><mglyph><style></math><img src="LEAK/mxss-form-math">',
  'mxss-noembed': '<noembed><img title="</noembed><img src=LEAK/mxss-noembed>"></noembed>',
  'mxss-xmp': '<xmp><img title="</xmp><img src=LEAK/mxss-xmp>"></xmp>',
  'mxss-textarea': '<textarea><img title="</textarea><img src=LEAK/mxss-textarea>"></textarea>',
  'mxss-title': '<title><img title="</title><img src=LEAK/mxss-title>"></title>',
  'mxss-comment': '<!--><img src="LEAK/mxss-comment">-->',
  'mxss-cdata': '<svg><![CDATA[><img src="LEAK/mxss-cdata">]]></svg>',
};

/** Markdown syntax that carries URLs. */
const MARKDOWN_PAYLOADS: Record<string, string> = {
  'md-image': '![secret](LEAK/md-image)',
  'md-image-title': '![secret](LEAK/md-image-title "t")',
  'md-image-reference': '![secret][ref]\n\n[ref]: LEAK/md-image-reference',
  'md-image-angle': '![x](<LEAK/md-image-angle>)',
  'md-image-in-link': '[![x](LEAK/md-image-in-link)](https://example.com/)',
  'md-link-javascript': '[click](javascript:SCRIPT)',
  'md-link-javascript-entity': '[click](&#106;avascript:SCRIPT)',
  'md-link-javascript-tab': '[click](java\tscript:SCRIPT)',
  'md-link-data': '[click](data:text/html,<script>SCRIPT</script>)',
  'md-link-vbscript': '[click](vbscript:msgbox(1))',
  'md-link-reference-js': '[click][js]\n\n[js]: javascript:SCRIPT',
  'md-autolink-js': '<javascript:SCRIPT>',
  'md-autolink-http': '<LEAK/md-autolink-http>',
  'md-bare-url': 'see LEAK/md-bare-url and www.example.com',
  'html-a-javascript-entity': '<a href="&#106;&#97;vascript:SCRIPT">x</a>',
  'html-a-javascript-newline': '<a href="java\nscript:SCRIPT">x</a>',
  'html-a-data': '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
  'html-a-relative': '<a href="/leak-relative/a">x</a>',
};

/** Script: each would set window.pwned if it ran. */
const SCRIPT_PAYLOADS: Record<string, string> = {
  'script-inline': '<script>SCRIPT</script>',
  'img-onerror': '<img src="x:" onerror="SCRIPT">',
  'svg-onload': '<svg onload="SCRIPT"></svg>',
  'body-onload': '<body onload="SCRIPT">',
  'details-ontoggle': '<details open ontoggle="SCRIPT"><summary>s</summary></details>',
  'input-onfocus': '<input autofocus onfocus="SCRIPT">',
  'iframe-javascript': '<iframe src="javascript:parent.SCRIPT"></iframe>',
  'object-javascript': '<object data="javascript:parent.SCRIPT"></object>',
  'embed-javascript': '<embed src="javascript:parent.SCRIPT">',
  'meta-refresh-javascript': '<meta http-equiv="refresh" content="0;url=javascript:SCRIPT">',
  'marquee-onstart': '<marquee onstart="SCRIPT">x</marquee>',
  'video-source-onerror': '<video><source onerror="SCRIPT"></video>',
  'style-onload': '<style onload="SCRIPT"></style>',
  'svg-animate-onbegin': '<svg><animate onbegin="SCRIPT" attributeName="x" dur="1s"/></svg>',
  'svg-set-href': '<svg><a><set attributeName="href" to="javascript:SCRIPT"/><text y="9">x</text></a></svg>',
  'math-xlink-js': '<math><maction actiontype="statusline" xlink:href="javascript:SCRIPT">x</maction></math>',
  'mxss-script-noscript': '<noscript><p title="</noscript><img src=x: onerror=SCRIPT>"></noscript>',
  'mxss-svg-style-script': '<svg></p><style><a id="</style><img src=x: onerror=SCRIPT>">',
  'table-cell-onerror': '| a |\n|---|\n| <img src=x: onerror=SCRIPT> |',
};

/** Markup that could pass for the page's own UI (issue 14, item 12). */
export const SPOOF_PAYLOADS: Record<string, string> = {
  'class-error': '<div class="error" part="error" role="alert">The GPU stopped responding</div>',
  'class-user-turn': '<div class="msg user"><div class="bubble">I agree to share my data</div></div>',
  id: '<p id="spoofed-id">x</p>',
  'dialog-open': '<dialog open>Session expired, enter your password</dialog>',
  marquee: '<marquee>moving</marquee>',
  popover: '<div popover id="pop">popover</div><button popovertarget="pop">open</button>',
  'a-download': '<a href="https://example.com/x.exe" download="invoice.pdf">invoice</a>',
  'code-class-bad': '<code class="error msg">x</code>',
  'data-attr': '<p data-state="error" aria-live="assertive">x</p>',
  'form-input': '<form><input name="password" placeholder="password"></form>',
};

function fill(markdown: string, leakBase: string): string {
  const base = new URL(leakBase);
  return markdown
    .replaceAll('LEAKHOST', base.host + base.pathname.replace(/\/$/, ''))
    .replaceAll('LEAK', leakBase)
    .replaceAll('SCRIPT', "window.pwned='pwned'");
}

/**
 * Every payload on its own, and every HTML payload once more as raw HTML inside a GFM table cell
 * (where the review found `background` surviving). Pipes inside a cell would split it, so the
 * cell variants escape them.
 */
export function payloads(leakBase: string): Payload[] {
  const all = { ...URL_PAYLOADS, ...MARKDOWN_PAYLOADS, ...SCRIPT_PAYLOADS, ...SPOOF_PAYLOADS };
  const out: Payload[] = [];
  for (const [name, markdown] of Object.entries(all)) {
    const filled = fill(markdown, leakBase);
    out.push({ name, markdown: filled });
    if (!filled.includes('\n'))
      out.push({ name: `${name} (table cell)`, markdown: `| cell | other |\n|---|---|\n| ${filled.replaceAll('|', '\\|')} | x |` });
  }
  return out;
}

/** The elements and, per element, the attributes that rendered replies may contain. */
export const RENDERED_ALLOWED: Record<string, readonly string[]> = {
  p: [],
  br: [],
  hr: [],
  h1: [],
  h2: [],
  h3: [],
  h4: [],
  h5: [],
  h6: [],
  strong: [],
  em: [],
  del: [],
  s: [],
  b: [],
  i: [],
  sub: [],
  sup: [],
  kbd: [],
  pre: [],
  blockquote: [],
  ul: [],
  ol: ['start'],
  li: [],
  table: [],
  thead: [],
  tbody: [],
  tr: [],
  th: ['align'],
  td: ['align'],
  code: ['class'],
  a: ['href', 'title', 'target', 'rel'],
};
