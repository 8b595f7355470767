#include "store/search_text.h"

#include <utility>

#include "util/text.h"

namespace chatd::store {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// without_marks works byte by byte.
static_assert(kMarkOpen.size() == 1 && kMarkClose.size() == 1);

// Byte length of the well-formed UTF-8 character at the front of non-empty `s`, 0 when none
// starts there (a stray continuation byte, an overlong, a truncated sequence...).
std::size_t utf8_char_length(std::string_view s) {
  const auto lead = static_cast<unsigned char>(s.front());
  const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  if (s.size() < length || !text::is_valid_utf8(s.substr(0, length))) return 0;
  return length;
}

// The code point of one well-formed UTF-8 character.
char32_t code_point(std::string_view ch) {
  const auto lead = static_cast<unsigned char>(ch.front());
  if (ch.size() == 1) return lead;
  char32_t value = lead & (0x7F >> ch.size());
  for (std::size_t i = 1; i < ch.size(); ++i) {
    value = (value << 6) | (static_cast<unsigned char>(ch[i]) & 0x3F);
  }
  return value;
}

// Unicode's White_Space beyond ASCII: a no-break or ideographic space separates words as much
// as a space does (phones type U+00A0, CJK keyboards U+3000).
bool is_unicode_space(char32_t c) {
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// The character at the front of non-empty `s`: its length, and whether it belongs in a word.
// An invalid byte is a one-byte separator, so no word ever holds invalid UTF-8.
struct Char {
  std::size_t length;
  bool in_word;
};

Char classify(std::string_view s) {
  const auto lead = static_cast<unsigned char>(s.front());
  if (lead < 0x80) return {1, is_ascii_alnum(lead)};
  const auto length = utf8_char_length(s);
  if (length == 0) return {1, false};
  return {length, !is_unicode_space(code_point(s.substr(0, length)))};
}

// One pass over the text, left to right, stopping as soon as the query is full.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  SearchQuery run() {
    while (!at_end() && !full()) {
      if (text_[at_] == '"') {
        ++at_;
        read_phrase();
        continue;
      }
      const auto c = classify(rest());
      if (!c.in_word) {
        at_ += c.length;
        continue;
      }
      auto word = read_word();
      const bool starred = !at_end() && text_[at_] == '*';
      if (starred) ++at_;
      add_term({{std::move(word.text)}, starred || word.cut});
    }
    return std::move(query_);
  }

 private:
  struct Word {
    std::string text;
    bool cut = false;
  };

  // The run of word characters here, kept up to kMaxSearchWordBytes (cut between characters);
  // the rest of the run is consumed too, so that it does not come back as a word of its own.
  Word read_word() {
    Word word;
    while (!at_end()) {
      const auto c = classify(rest());
      if (!c.in_word) break;
      if (!word.cut && word.text.size() + c.length <= kMaxSearchWordBytes) {
        word.text.append(text_.substr(at_, c.length));
      } else {
        word.cut = true;
      }
      at_ += c.length;
    }
    return word;
  }

  // After an opening quote: the words up to the closing quote (consumed) or the end. A `*` in
  // here is only a separator: FTS5 can make only a phrase's last word a prefix.
  void read_phrase() {
    std::vector<std::string> words;
    while (!at_end() && text_[at_] != '"') {
      const auto c = classify(rest());
      if (!c.in_word) {
        at_ += c.length;
        continue;
      }
      auto word = read_word();
      if (words.size() < words_left()) words.push_back(std::move(word.text));
    }
    if (!at_end()) ++at_;
    if (!words.empty()) add_term({std::move(words), false});
  }

  void add_term(SearchTerm term) {
    words_ += term.words.size();
    query_.terms.push_back(std::move(term));
  }

  std::size_t words_left() const { return kMaxSearchWords - words_; }
  bool full() const { return query_.terms.size() == kMaxSearchTerms || words_left() == 0; }
  bool at_end() const { return at_ >= text_.size(); }
  std::string_view rest() const { return text_.substr(at_); }

  std::string_view text_;
  std::size_t at_ = 0;
  std::size_t words_ = 0;
  SearchQuery query_;
};

// A term's words with one space between: both backends tokenize that like the document, so
// several words become a phrase. Empty words are skipped, so that a query built by hand cannot
// produce `""` or `''` (a syntax error to to_tsquery).
std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) {
    if (word.empty()) continue;
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

// An FTS5 string: in double quotes, a quote inside doubled.
void append_fts5_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// A tsquery lexeme: in single quotes; a quote inside is doubled and a backslash, which would
// escape the next character, is escaped itself.
void append_lexeme(std::string& out, std::string_view text) {
  out += '\'';
  for (const char c : text) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  out += '\'';
}

// What one character of message text becomes in HTML.
std::string_view html_escaped(std::string_view ch) {
  switch (ch.front()) {
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '\'':
      return "&#39;";
    case '\t':
    case '\n':
    case '\r':
      return ch;
    default:
      return static_cast<unsigned char>(ch.front()) < 0x20 ? kReplacement : ch;
  }
}

// Writes escaped text and the mark tags so that they always balance and no mark is empty: an
// opening tag is written only once text follows it.
class SnippetWriter {
 public:
  void open() {
    if (in_mark_) return;
    in_mark_ = true;
    tag_pending_ = true;
  }

  void close() {
    if (in_mark_ && !tag_pending_) out_ += "</mark>";
    in_mark_ = false;
    tag_pending_ = false;
  }

  void text(std::string_view escaped) {
    if (tag_pending_) out_ += "<mark>";
    tag_pending_ = false;
    out_ += escaped;
  }

  std::string finish() {
    close();
    return std::move(out_);
  }

 private:
  std::string out_;
  bool in_mark_ = false;
  bool tag_pending_ = false;
};

}  // namespace

SearchQuery parse_search(std::string_view text) {
  return Parser(text).run();
}

std::string to_fts5_match(const SearchQuery& query) {
  std::string out;
  for (const auto& term : query.terms) {
    const auto text = joined(term.words);
    if (text.empty()) continue;
    if (!out.empty()) out += ' ';
    append_fts5_string(out, text);
    if (term.prefix) out += " *";
  }
  return out;
}

std::string to_tsquery(const SearchQuery& query) {
  std::string out;
  for (const auto& term : query.terms) {
    const auto text = joined(term.words);
    if (text.empty()) continue;
    if (!out.empty()) out += " & ";
    append_lexeme(out, text);
    if (term.prefix) out += ":*";
  }
  return out;
}

std::string without_marks(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == kMarkOpen.front() || c == kMarkClose.front()) c = ' ';
  }
  return out;
}

std::string render_snippet(std::string_view marked) {
  SnippetWriter writer;
  std::size_t at = 0;
  while (at < marked.size()) {
    const auto rest = marked.substr(at);
    if (rest.starts_with(kMarkOpen)) {
      writer.open();
      at += kMarkOpen.size();
    } else if (rest.starts_with(kMarkClose)) {
      writer.close();
      at += kMarkClose.size();
    } else if (const auto length = utf8_char_length(rest); length == 0) {
      writer.text(kReplacement);
      at += 1;
    } else {
      writer.text(html_escaped(rest.substr(0, length)));
      at += length;
    }
  }
  return writer.finish();
}

}  // namespace chatd::store
