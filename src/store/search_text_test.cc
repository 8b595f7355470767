#include "store/search_text.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>

#include "util/text.h"

namespace chatd::store {
namespace {

using namespace std::string_literals;

// Both backends' renderings of one search text.
struct Rendered {
  std::string fts5;
  std::string tsquery;

  bool operator==(const Rendered&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Rendered& r) {
  return os << "{fts5: " << r.fts5 << ", tsquery: " << r.tsquery << "}";
}

Rendered rendered(std::string_view text) {
  const auto query = parse_search(text);
  return {to_fts5_match(query), to_tsquery(query)};
}

SearchTerm word(std::string text, bool prefix = false) {
  return {{std::move(text)}, prefix};
}

SearchTerm phrase(std::vector<std::string> words) {
  return {std::move(words), false};
}

// Snippet input written readably: `[` and `]` stand for kMarkOpen and kMarkClose.
std::string marked(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '[') {
      out += kMarkOpen;
    } else if (c == ']') {
      out += kMarkClose;
    } else {
      out += c;
    }
  }
  return out;
}

// `count` words: prefix0 prefix1 ... each followed by a space.
std::string numbered_words(std::string_view prefix, int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    text += prefix;
    text += std::to_string(i);
    text += ' ';
  }
  return text;
}

std::size_t word_count(const SearchQuery& query) {
  std::size_t count = 0;
  for (const auto& term : query.terms) count += term.words.size();
  return count;
}

// --- parse_search -------------------------------------------------------------------------------

TEST(ParseSearch, WordsAreSplitOnSpaceAndKeptAsTyped) {
  EXPECT_EQ(parse_search("  Hello\tWORLD\n").terms,
            (std::vector<SearchTerm>{word("Hello"), word("WORLD")}));
}

TEST(ParseSearch, AsciiPunctuationSeparatesWords) {
  EXPECT_EQ(
      parse_search("don't e.g. a_b a-b x@y.z").terms,
      (std::vector<SearchTerm>{word("don"), word("t"), word("e"), word("g"), word("a"), word("b"),
                               word("a"), word("b"), word("x"), word("y"), word("z")}));
}

TEST(ParseSearch, NothingButSeparatorsIsEmpty) {
  for (const std::string_view text :
       {"", " ", "\"", "\"\"", "*", "**", "\" * \"", "-", "()", "'; --", "\\\\", "&|!<->:*"}) {
    EXPECT_TRUE(parse_search(text).empty()) << text;
  }
  EXPECT_TRUE(parse_search("\0\0\0"s).empty());
}

TEST(ParseSearch, StarRightAfterAWordMakesAPrefix) {
  EXPECT_EQ(parse_search("foo* bar").terms,
            (std::vector<SearchTerm>{word("foo", true), word("bar")}));
}

TEST(ParseSearch, StarElsewhereSeparates) {
  EXPECT_EQ(parse_search("*foo foo** a*b * c").terms,
            (std::vector<SearchTerm>{word("foo"), word("foo", true), word("a", true), word("b"),
                                     word("c")}));
  EXPECT_EQ(parse_search("foo *").terms, (std::vector<SearchTerm>{word("foo")}));
}

TEST(ParseSearch, QuotesMakeAPhrase) {
  EXPECT_EQ(parse_search("a \"big red\" dog").terms,
            (std::vector<SearchTerm>{word("a"), phrase({"big", "red"}), word("dog")}));
}

TEST(ParseSearch, UnclosedQuoteRunsToTheEnd) {
  EXPECT_EQ(parse_search("a \"b c").terms,
            (std::vector<SearchTerm>{word("a"), phrase({"b", "c"})}));
}

TEST(ParseSearch, PhraseOfOneWordIsAWordAndEmptyPhraseIsNothing) {
  EXPECT_EQ(parse_search("\"one\" \"\" \" ; \" two").terms,
            (std::vector<SearchTerm>{word("one"), word("two")}));
}

TEST(ParseSearch, StarInsideAPhraseSeparates) {
  EXPECT_EQ(parse_search("\"foo*\" \"big red*\" \"a*b\"").terms,
            (std::vector<SearchTerm>{word("foo"), phrase({"big", "red"}), phrase({"a", "b"})}));
}

TEST(ParseSearch, QuoteInsideAWordStartsAPhrase) {
  EXPECT_EQ(parse_search("a\"b c\"d").terms,
            (std::vector<SearchTerm>{word("a"), phrase({"b", "c"}), word("d")}));
}

TEST(ParseSearch, AdjacentPhrasesStaySeparate) {
  EXPECT_EQ(parse_search("\"a b\"\"c d\"").terms,
            (std::vector<SearchTerm>{phrase({"a", "b"}), phrase({"c", "d"})}));
}

TEST(ParseSearch, NonAsciiCharactersAreWordCharacters) {
  EXPECT_EQ(parse_search("Crème brûlée 日本語 😀 👩‍👩‍👧 Ελλάδα").terms,
            (std::vector<SearchTerm>{word("Crème"), word("brûlée"), word("日本語"), word("😀"),
                                     word("👩‍👩‍👧"), word("Ελλάδα")}));
}

TEST(ParseSearch, UnicodeSpacesSeparateWords) {
  // U+00A0 no-break space, U+3000 ideographic space, U+2009 thin space, U+0085 next line.
  EXPECT_EQ(parse_search("foo\u00A0bar 東京\u3000タワー a\u2009b c\u0085d").terms,
            (std::vector<SearchTerm>{word("foo"), word("bar"), word("東京"), word("タワー"),
                                     word("a"), word("b"), word("c"), word("d")}));
}

TEST(ParseSearch, InvalidUtf8BytesSeparateAndNeverReachAWord) {
  EXPECT_EQ(parse_search("a\xFF"
                         "b caf\xC3 \xC0\xAF x\xE6\x97")
                .terms,
            (std::vector<SearchTerm>{word("a"), word("b"), word("caf"), word("x")}));
  EXPECT_EQ(parse_search("\xED\xA0\x80z").terms, (std::vector<SearchTerm>{word("z")}));
  EXPECT_TRUE(parse_search("\x80\x80\xBF\xF5\xF8").empty());
}

TEST(ParseSearch, ControlCharactersSeparate) {
  EXPECT_EQ(parse_search("a\0b\x01"
                         "c\x1B[31md"s)
                .terms,
            (std::vector<SearchTerm>{word("a"), word("b"), word("c"), word("31md")}));
}

TEST(ParseSearch, LongWordIsCutAndBecomesAPrefix) {
  const std::string long_word(100, 'x');
  EXPECT_EQ(parse_search(long_word + " next").terms,
            (std::vector<SearchTerm>{word(std::string(64, 'x'), true), word("next")}));
  // Exactly at the limit: kept whole, not a prefix.
  EXPECT_EQ(parse_search(std::string(64, 'y')).terms,
            (std::vector<SearchTerm>{word(std::string(64, 'y'))}));
}

TEST(ParseSearch, LongWordIsCutBetweenCharacters) {
  // 63 ASCII bytes, then a two-byte é that would end at byte 65: cut before it.
  const auto query = parse_search(std::string(63, 'a') + "éé");
  ASSERT_EQ(query.terms.size(), 1U);
  EXPECT_EQ(query.terms[0].words[0], std::string(63, 'a'));
  EXPECT_TRUE(query.terms[0].prefix);
  // Once cut, a shorter character after the one that did not fit is not taken either.
  EXPECT_EQ(parse_search(std::string(63, 'a') + "éb").terms,
            (std::vector<SearchTerm>{word(std::string(63, 'a'), true)}));
  // 4-byte emoji: 16 fit exactly, the 17th is cut.
  std::string emoji;
  for (int i = 0; i < 17; ++i) emoji += "😀";
  const auto cut = parse_search(emoji).terms.at(0).words.at(0);
  EXPECT_EQ(cut.size(), 64U);
  EXPECT_TRUE(text::is_valid_utf8(cut));
}

TEST(ParseSearch, LongPhraseWordIsCutButStaysInThePhrase) {
  const auto query = parse_search("\"" + std::string(70, 'p') + " q\"");
  EXPECT_EQ(query.terms, (std::vector<SearchTerm>{phrase({std::string(64, 'p'), "q"})}));
}

TEST(ParseSearch, AtMost32Terms) {
  const auto query = parse_search(numbered_words("w", 40));
  ASSERT_EQ(query.terms.size(), kMaxSearchTerms);
  EXPECT_EQ(query.terms.back(), word("w31"));
}

TEST(ParseSearch, AtMost64WordsInAll) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "\"a b c\" ";
  const auto query = parse_search(text);
  EXPECT_EQ(word_count(query), kMaxSearchWords);
  ASSERT_EQ(query.terms.size(), 22U);  // 21 phrases of 3, then one word left: a plain word
  EXPECT_EQ(query.terms.back(), word("a"));
}

TEST(ParseSearch, PhraseIsCutAtTheWordBudget) {
  const auto query = parse_search('"' + numbered_words("p", 70) + "\" after");
  ASSERT_EQ(query.terms.size(), 1U);
  EXPECT_EQ(query.terms[0].words.size(), kMaxSearchWords);
  EXPECT_EQ(query.terms[0].words.back(), "p63");
}

TEST(ParseSearch, HugeInputIsBounded) {
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "word ";
  const auto query = parse_search(text);
  EXPECT_EQ(query.terms.size(), kMaxSearchTerms);
  EXPECT_EQ(parse_search(std::string(1 << 20, 'z')).terms,
            (std::vector<SearchTerm>{word(std::string(64, 'z'), true)}));
  EXPECT_TRUE(parse_search(std::string(1 << 20, '"')).empty());
}

// --- to_fts5_match and to_tsquery: hostile input ----------------------------------------------

TEST(SearchRendering, EmptyQueryRendersEmpty) {
  EXPECT_EQ(rendered(""), (Rendered{"", ""}));
  EXPECT_EQ(rendered("\"\""), (Rendered{"", ""}));
}

TEST(SearchRendering, PlainWords) {
  EXPECT_EQ(rendered("hello world"), (Rendered{R"("hello" "world")", "'hello' & 'world'"}));
}

TEST(SearchRendering, Prefix) {
  EXPECT_EQ(rendered("caf* bar"), (Rendered{R"("caf" * "bar")", "'caf':* & 'bar'"}));
}

TEST(SearchRendering, Phrase) {
  EXPECT_EQ(rendered("x \"big red dog\""),
            (Rendered{R"("x" "big red dog")", "'x' & 'big red dog'"}));
}

TEST(SearchRendering, LoneQuotes) {
  EXPECT_EQ(rendered("\""), (Rendered{"", ""}));
  EXPECT_EQ(rendered("a\"b"), (Rendered{R"("a" "b")", "'a' & 'b'"}));
  EXPECT_EQ(rendered("\"a"), (Rendered{R"("a")", "'a'"}));
}

TEST(SearchRendering, Stars) {
  EXPECT_EQ(rendered("*"), (Rendered{"", ""}));
  EXPECT_EQ(rendered("**"), (Rendered{"", ""}));
  EXPECT_EQ(rendered("* a **b"), (Rendered{R"("a" "b")", "'a' & 'b'"}));
}

TEST(SearchRendering, MinusIsNotNot) {
  EXPECT_EQ(rendered("-a"), (Rendered{R"("a")", "'a'"}));
  EXPECT_EQ(rendered("a -b"), (Rendered{R"("a" "b")", "'a' & 'b'"}));
  EXPECT_EQ(rendered("a - - b"), (Rendered{R"("a" "b")", "'a' & 'b'"}));
}

TEST(SearchRendering, OperatorWordsAreWords) {
  EXPECT_EQ(rendered("NEAR(a b)"), (Rendered{R"("NEAR" "a" "b")", "'NEAR' & 'a' & 'b'"}));
  EXPECT_EQ(rendered("NEAR(a b, 3)"),
            (Rendered{R"("NEAR" "a" "b" "3")", "'NEAR' & 'a' & 'b' & '3'"}));
  EXPECT_EQ(rendered("(a OR b)"), (Rendered{R"("a" "OR" "b")", "'a' & 'OR' & 'b'"}));
  EXPECT_EQ(rendered("a AND NOT b"),
            (Rendered{R"("a" "AND" "NOT" "b")", "'a' & 'AND' & 'NOT' & 'b'"}));
  EXPECT_EQ(rendered("a & !b | c <-> d <2> e"),
            (Rendered{R"("a" "b" "c" "d" "2" "e")", "'a' & 'b' & 'c' & 'd' & '2' & 'e'"}));
}

TEST(SearchRendering, ColumnFiltersAndWeightsAreText) {
  EXPECT_EQ(rendered("a:b"), (Rendered{R"("a" "b")", "'a' & 'b'"}));
  EXPECT_EQ(rendered("col:x"), (Rendered{R"("col" "x")", "'col' & 'x'"}));
  EXPECT_EQ(rendered("{content sender}: x"),
            (Rendered{R"("content" "sender" "x")", "'content' & 'sender' & 'x'"}));
  EXPECT_EQ(rendered("x:*AB"), (Rendered{R"("x" "AB")", "'x' & 'AB'"}));
  EXPECT_EQ(rendered("^start +plus"), (Rendered{R"("start" "plus")", "'start' & 'plus'"}));
}

TEST(SearchRendering, SqlInjectionIsJustWords) {
  EXPECT_EQ(rendered("'; DROP TABLE messages; --"),
            (Rendered{R"("DROP" "TABLE" "messages")", "'DROP' & 'TABLE' & 'messages'"}));
  EXPECT_EQ(rendered("x' OR '1'='1"), (Rendered{R"("x" "OR" "1" "1")", "'x' & 'OR' & '1' & '1'"}));
  EXPECT_EQ(rendered("$$ E'\\x' \")"), (Rendered{R"("E" "x")", "'E' & 'x'"}));
}

TEST(SearchRendering, Backslashes) {
  EXPECT_EQ(rendered("a\\b \\\\c\\"), (Rendered{R"("a" "b" "c")", "'a' & 'b' & 'c'"}));
  EXPECT_EQ(rendered("\\'a\\'"), (Rendered{R"("a")", "'a'"}));
}

TEST(SearchRendering, NulBytes) {
  EXPECT_EQ(rendered("\0"s), (Rendered{"", ""}));
  EXPECT_EQ(rendered("a\0b"s), (Rendered{R"("a" "b")", "'a' & 'b'"}));
}

TEST(SearchRendering, EmojiAccentsAndCjk) {
  EXPECT_EQ(rendered("😀 Crème* brûlée"),
            (Rendered{R"("😀" "Crème" * "brûlée")", "'😀' & 'Crème':* & 'brûlée'"}));
  EXPECT_EQ(rendered("日本語 \"東京 タワー\""),
            (Rendered{R"("日本語" "東京 タワー")", "'日本語' & '東京 タワー'"}));
  EXPECT_EQ(rendered("Ελλάδα ÅNGSTRÖM"),
            (Rendered{R"("Ελλάδα" "ÅNGSTRÖM")", "'Ελλάδα' & 'ÅNGSTRÖM'"}));
}

TEST(SearchRendering, VeryLongInput) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "\"" + std::string(80, 'q') + " r\" ";
  const auto query = parse_search(text);
  const auto fts5 = to_fts5_match(query);
  const auto tsquery = to_tsquery(query);
  // 32 phrases of a 64-byte word and "r": each `"q...q r"` plus a space.
  EXPECT_EQ(fts5.size(), 32 * (64 + 4) + 31 * 1);
  EXPECT_EQ(tsquery.size(), 32 * (64 + 4) + 31 * 3);
}

// Queries built by hand: the renderers still escape and never write an empty string or lexeme.
TEST(SearchRendering, QuotesAndBackslashesInWordsAreEscaped) {
  const SearchQuery query{{word("a\"b"), word("c'd"), word("e\\f", true), phrase({"g'", "\"h"})}};
  EXPECT_EQ(to_fts5_match(query), R"("a""b" "c'd" "e\f" * "g' ""h")");
  EXPECT_EQ(to_tsquery(query), R"('a"b' & 'c''d' & 'e\\f':* & 'g'' "h')");
}

TEST(SearchRendering, EmptyWordsAndTermsAreSkipped) {
  const SearchQuery query{{word(""), phrase({"", "a", ""}), SearchTerm{{}, true}, word("b")}};
  EXPECT_EQ(to_fts5_match(query), R"("a" "b")");
  EXPECT_EQ(to_tsquery(query), "'a' & 'b'");
  EXPECT_EQ(to_fts5_match(SearchQuery{{word("")}}), "");
  EXPECT_EQ(to_tsquery(SearchQuery{{word("", true)}}), "");
}

// --- snippets -----------------------------------------------------------------------------------

TEST(RenderSnippet, MarksBecomeTags) {
  EXPECT_EQ(render_snippet(marked("say [hello] to [the] world")),
            "say <mark>hello</mark> to <mark>the</mark> world");
}

TEST(RenderSnippet, EverythingElseIsEscaped) {
  EXPECT_EQ(render_snippet(R"(<b>"Tom" & 'Jerry'</b>)"),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;");
  EXPECT_EQ(render_snippet(marked("[<script>]alert(1)</script>")),
            "<mark>&lt;script&gt;</mark>alert(1)&lt;/script&gt;");
  EXPECT_EQ(render_snippet("&amp; <mark>"), "&amp;amp; &lt;mark&gt;");
}

TEST(RenderSnippet, UnclosedMarkIsClosedAtTheEnd) {
  EXPECT_EQ(render_snippet(marked("a [hit")), "a <mark>hit</mark>");
}

TEST(RenderSnippet, StrayCloseIsDropped) {
  EXPECT_EQ(render_snippet(marked("a]b [c]]d")), "ab <mark>c</mark>d");
}

TEST(RenderSnippet, NestedOpensAreFlattened) {
  EXPECT_EQ(render_snippet(marked("[a[b]c]")), "<mark>ab</mark>c");
  EXPECT_EQ(render_snippet(marked("[[[x")), "<mark>x</mark>");
}

TEST(RenderSnippet, EmptyMarksAreLeftOut) {
  EXPECT_EQ(render_snippet(marked("a[]b[")), "ab");
  EXPECT_EQ(render_snippet(marked("[][[]]")), "");
}

TEST(RenderSnippet, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(render_snippet("a\xFF"
                           "b"),
            "a\uFFFDb");
  EXPECT_EQ(render_snippet("end\xE6\x97"), "end\uFFFD\uFFFD");
  EXPECT_EQ(render_snippet(marked("[\xC0\xAF]")), "<mark>\uFFFD\uFFFD</mark>");
}

TEST(RenderSnippet, ControlCharactersBecomeReplacementCharacters) {
  EXPECT_EQ(render_snippet("a\0b\x01"
                           "c\x1B"s),
            "a\uFFFDb\uFFFDc\uFFFD");
  EXPECT_EQ(render_snippet("line\nnext\ttab\r"), "line\nnext\ttab\r");
}

TEST(RenderSnippet, UnicodeIsKept) {
  EXPECT_EQ(render_snippet(marked("Crème [brûlée] 😀 [日本語]…")),
            "Crème <mark>brûlée</mark> 😀 <mark>日本語</mark>…");
}

TEST(RenderSnippet, ContentPassedThroughWithoutMarksCannotForgeAMark) {
  const std::string content = "fake " + marked("[mark]") + " here";
  EXPECT_EQ(without_marks(content), "fake  mark  here");
  EXPECT_EQ(render_snippet(without_marks(content)), "fake  mark  here");
}

TEST(WithoutMarks, KeepsEverythingElse) {
  EXPECT_EQ(without_marks("a\0b\x01\x04 é"s), "a\0b\x01\x04 é"s);
  EXPECT_EQ(without_marks(""), "");
}

}  // namespace
}  // namespace chatd::store
