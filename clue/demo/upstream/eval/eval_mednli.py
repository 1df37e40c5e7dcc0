"""Demo protocol (written for the CLUE kit, not the CLUE prompts): natural language inference.

The kit reads the constants below with ast; the file is never imported or run.
"""

sys_prompt = (
    "You help clinicians read notes. You get two statements about one patient. "
    "Say whether the second statement is implied by the first (entailment), "
    "ruled out by it (contradiction), or neither (neutral). Reply with one word."
)

user_prompt_template = """First statement: {sentence1}
Second statement: {sentence2}
Relation:"""

assistant_response_template = """{gold_label}"""

ground_truth_key = "gold_label"
max_new_tokens = 20
